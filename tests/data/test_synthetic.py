"""The synthetic source: virtual, index-addressed training inputs that scale to 100k clients."""

import numpy as np
import pytest

from fedsim.data.synthetic import SyntheticSource, counter_normal
from fedsim.errors import ConfigError
from scenarios.class_incremental import class_incremental


def test_rows_are_a_pure_function_of_the_index():
    ds = SyntheticSource(train_per_class=50).load()
    idx = np.array([3, 77, 400, 3])
    a, b = ds.x_train[idx], ds.x_train[idx[::-1]]
    assert a.shape == (4, 1, 8, 8) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b[::-1])
    np.testing.assert_array_equal(a[0], ds.x_train[3])
    np.testing.assert_array_equal(ds.x_train[10:12], ds.x_train[np.array([10, 11])])
    again = SyntheticSource(train_per_class=50).load()
    np.testing.assert_array_equal(again.x_train[idx], a)
    other = SyntheticSource(train_per_class=50, seed=1).load()
    assert not np.allclose(other.x_train[idx], a)


def test_noise_is_standard_normal_and_classes_are_separable():
    z = counter_normal(0, np.arange(20000), 8)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.03
    ds = SyntheticSource(train_per_class=300, separation=1.0, noise=1.0,
                         input_shape=(32,)).load()
    x = ds.x_train[np.arange(len(ds.y_train))].reshape(len(ds.y_train), -1)
    means = np.stack([x[ds.y_train == c].mean(0) for c in range(10)])
    xt = ds.x_test.reshape(len(ds.y_test), -1)
    pred = np.argmin(((xt[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == ds.y_test).mean() > 0.8, "nearest class mean should work on clusters"


def test_training_inputs_are_not_stored():
    ds = SyntheticSource(train_per_class=100_000, input_shape=(1, 28, 28)).load()
    assert ds.x_train.shape == (1_000_000, 1, 28, 28)
    assert not isinstance(ds.x_train, np.ndarray), "a dense array would be 3 GB"
    assert ds.y_train.nbytes == 8_000_000


def test_plan_for_100k_clients_shares_index_buffers():
    ds = SyntheticSource(train_per_class=60_000, test_per_class=10).load()
    p = class_incremental(train_labels=ds.y_train, test_labels=ds.y_test, seed=0,
                          num_clients=100_000, num_tasks=5, classes_per_task=2)
    assert p.num_clients == 100_000
    bases = {id(s.train_idx.base) for st in p.streams[:1000] for s in st.slots}
    assert len(bases) == 5, "each task's client shares are views of one buffer"
    allidx = np.concatenate([s.train_idx for st in p.streams for s in st.slots])
    assert len(allidx) == len(ds.y_train) == len(np.unique(allidx))


@pytest.mark.parametrize("kw, key", [({"num_classes": 1}, "data.num_classes"),
                                     ({"train_per_class": 0}, "data.train_per_class"),
                                     ({"input_shape": (0, 3)}, "data.input_shape"),
                                     ({"noise": -1.0}, "data.noise")])
def test_bad_values_name_the_key(kw, key):
    with pytest.raises(ConfigError, match=key):
        SyntheticSource(**kw)
