"""fedsim.data.node_arrays: a machine's own examples from an .npz or a directory of .npy."""

import numpy as np
import pytest

from fedsim.data.node_arrays import NodeArraysSource
from fedsim.errors import ConfigError, DataError


def arrays(n=5, test=True):
    rng = np.random.default_rng(0)
    out = {"x": rng.random((n, 1, 2, 2)), "y": np.arange(n) % 3}
    if test:
        out |= {"x_test": rng.random((2, 1, 2, 2)), "y_test": np.array([2, 0])}
    return out


def source(path, **kw):
    return NodeArraysSource(num_classes=3, input_shape=[1, 2, 2], path=str(path), **kw)


def test_npz_and_npy_directory_load_the_same_arrays(tmp_path):
    a = arrays()
    np.savez(tmp_path / "node.npz", **a)
    (tmp_path / "dir").mkdir()
    for key, value in a.items():
        np.save(tmp_path / "dir" / f"{key}.npy", value)
    for ds in (source(tmp_path / "node.npz").load(), source(tmp_path / "dir").load()):
        assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
        np.testing.assert_allclose(ds.x_train, a["x"].astype(np.float32))
        assert ds.y_train.tolist() == [0, 1, 2, 0, 1] and ds.y_test.tolist() == [2, 0]
        assert ds.num_classes == 3 and ds.input_shape == (1, 2, 2)


def test_no_path_or_no_test_arrays_give_empty_splits(tmp_path):
    empty = NodeArraysSource(num_classes=3, input_shape=[1, 2, 2]).load()
    assert empty.x_train.shape == (0, 1, 2, 2) and empty.x_test.shape == (0, 1, 2, 2)
    np.savez(tmp_path / "train.npz", **arrays(test=False))
    ds = source(tmp_path / "train.npz").load()
    assert len(ds.y_train) == 5 and len(ds.y_test) == 0


def test_bad_files_name_the_key(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 1, 2, 2)))
    with pytest.raises(DataError, match="has no array 'y'"):
        source(tmp_path / "a.npz").load()
    np.savez(tmp_path / "b.npz", x=np.zeros((2, 4)), y=np.zeros(2))
    with pytest.raises(DataError, match=r"do not match data.input_shape \[1, 2, 2\]"):
        source(tmp_path / "b.npz").load()
    np.savez(tmp_path / "c.npz", x=np.zeros((1, 1, 2, 2)), y=np.array([3]))
    with pytest.raises(DataError, match=r"labels outside 0..2"):
        source(tmp_path / "c.npz").load()
    with pytest.raises(DataError, match="neither an .npz file nor a directory"):
        source(tmp_path / "missing.npz").load()
    with pytest.raises(ConfigError, match="data.num_classes"):
        NodeArraysSource(num_classes=1, input_shape=[2])
