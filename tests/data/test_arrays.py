"""``data=arrays`` (an .npz) and ``fedsim.data.ArraySource``: checks, split, plan unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from fedsim.data import ArraySource, NpzSource
from fedsim.errors import ConfigError, DataError


def blobs(n: int = 120, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    return rng.normal(size=(n, 5)).astype(np.float64), y


X3, X2, Y01 = np.zeros((3, 2)), np.zeros((2, 2)), np.array([0, 1])
TWO = {"x": X2, "y": Y01}


@pytest.mark.parametrize(
    "arrays, needle",
    [
        ({"y": np.zeros(3, int)}, "has no array 'x' (found: y;"),
        ({"x": X3}, "has no array 'y'"),
        (
            {"x": X3, "y": np.array([0.0, 1.0, 0.0])},
            "'y' must be a 1-D array of integer labels, got dtype float64",
        ),
        ({"x": np.array(["a", "b"]), "y": Y01}, "'x' must be a numeric array"),
        ({"x": X3, "y": Y01}, "'x' has 3 rows but 'y' has 2"),
        (
            {"x": X3, "y": np.array([0, 2, 0])},
            "labels 'y' must be 0..C-1 with every class present; "
            "got 2 distinct labels from 0 to 2 (missing [1])",
        ),
        ({"x": X3, "y": np.array([-1, 0, 1])}, "from -1 to 1"),
        ({**TWO, "x_test": np.zeros((1, 2))}, "'x_test' given without 'y_test'"),
        ({**TWO, "x_test": np.zeros((1, 2)), "y_test": np.array([2])}, "'y_test' must lie in 0..1"),
        (
            {**TWO, "x_test": np.zeros((1, 3)), "y_test": np.array([1])},
            "'x_test' rows have shape (3,), 'x' rows (2,)",
        ),
    ],
)
def test_bad_files_are_one_line_naming_the_array(tmp_path, arrays, needle):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as info:
        NpzSource(path=str(path)).load()
    text = str(info.value)
    assert needle in text and text.startswith("data.path") and len(text.splitlines()) == 1


def test_missing_path_and_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.path: not set"):
        NpzSource(path=None)
    with pytest.raises(DataError, match=r"^data\.path: file .* does not exist"):
        NpzSource(path=str(tmp_path / "nope.npz")).load()
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DataError, match=r"is not a readable \.npz"):
        NpzSource(path=str(tmp_path / "junk.npz")).load()


def test_held_out_split_is_stratified_and_covers_every_example(tmp_path):
    x, y = blobs()
    ds = ArraySource(x, y, test_fraction=0.25, split_seed=3).load()
    assert ds.num_classes == 4 and ds.input_shape == (5,)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert len(ds.y_train) + len(ds.y_test) == len(y)
    assert np.bincount(ds.y_test).tolist() == [8, 8, 8, 8]  # round(30 * 0.25) per class
    together = np.sort(np.concatenate([ds.x_train, ds.x_test])[:, 0])
    assert np.allclose(together, np.sort(x[:, 0].astype(np.float32)))


def test_in_memory_and_file_give_the_same_dataset(tmp_path):
    x, y = blobs()
    xt, yt = blobs(40, seed=1)
    source = ArraySource(x, y, xt, yt)
    path = source.save(tmp_path / "a.npz")
    a, b = source.load(), NpzSource(path=str(path)).load()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert np.array_equal(a.x_test, xt.astype(np.float32))  # a given test split is used as is


def test_an_arrays_run_builds_the_same_plan_as_the_source_it_came_from(tmp_path):
    """Scenarios see no difference: digits through an .npz plan exactly like data=digits."""
    from fedsim.api import compose
    from fedsim.experiment import get_experiment

    digits = get_experiment(compose([f"output.root={tmp_path}"])).data
    path = tmp_path / "digits.npz"
    np.savez(path, x=digits.x_train, y=digits.y_train, x_test=digits.x_test, y_test=digits.y_test)
    own = get_experiment(compose(["data=arrays", f"data.path={path}", f"output.root={tmp_path}"]))
    ref = get_experiment(compose([f"output.root={tmp_path}"]))
    assert own.plan.num_clients == ref.plan.num_clients
    for a, b in zip(own.plan.streams, ref.plan.streams, strict=True):
        assert [s.task_id for s in a.slots] == [s.task_id for s in b.slots]
        pairs = zip(a.slots, b.slots, strict=True)
        assert all(np.array_equal(p.train_idx, q.train_idx) for p, q in pairs)


def test_a_run_records_the_file_checksum_and_refuses_a_changed_file(tmp_path):
    import hashlib

    from fedsim.api import compose
    from fedsim.api.runner import record_checksum

    x, y = blobs()
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    cfg = compose(["data=arrays", f"data.path={path}"])
    assert cfg["data"]["checksum"] is None
    record_checksum(cfg)
    assert cfg["data"]["checksum"] == hashlib.sha256(path.read_bytes()).hexdigest()
    spec = {k: v for k, v in cfg["data"].items() if k not in ("_target_", "name")}
    assert len(NpzSource(**spec).load().y_train) + 24 == len(y)
    np.savez(path, x=x[:60], y=y[:60])  # rewritten (a notebook cell run again)
    with pytest.raises(DataError, match=r"^data\.path: .* changed since the run recorded it"):
        NpzSource(**spec).load()
