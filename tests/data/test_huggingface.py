"""Hugging Face sources, offline: save_to_disk folders and local parquet / csv files."""

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image

from fedsim.data.huggingface import HuggingFaceSource
from fedsim.errors import ConfigError, DataError


def images(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (6, 5), dtype=np.uint8) for _ in range(n)]


def test_save_to_disk_with_images(tmp_path):
    feats = Features({"img": Image(), "y": ClassLabel(num_classes=3)})
    dd = DatasetDict({
        "train": Dataset.from_dict({"img": images(9, 0), "y": [0, 1, 2] * 3}, features=feats),
        "test": Dataset.from_dict({"img": images(3, 1), "y": [2, 1, 0]}, features=feats),
    })
    dd.save_to_disk(str(tmp_path / "saved"))
    ds = HuggingFaceSource(root=str(tmp_path / "saved"), input_key="img", label_key="y").load()
    assert ds.x_train.shape == (9, 1, 6, 5) and ds.input_shape == (1, 6, 5)
    np.testing.assert_allclose(ds.x_test[0, 0] * 255, images(3, 1)[0], atol=1e-3)
    assert ds.y_test.tolist() == [2, 1, 0] and ds.num_classes == 3


def test_single_dataset_without_test_split_is_split_stratified(tmp_path):
    Dataset.from_dict({"a": np.arange(40.0), "b": -np.arange(40.0), "label": np.arange(40) % 4}
                      ).save_to_disk(str(tmp_path / "one"))
    ds = HuggingFaceSource(root=str(tmp_path / "one"), input_key=["a", "b"],
                           test_fraction=0.25).load()
    # round(10 * 0.25) = 2 test examples per class
    assert ds.x_train.shape == (32, 2) and ds.x_test.shape == (8, 2)
    assert np.array_equal(ds.x_train[:, 0], -ds.x_train[:, 1])
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2, 2]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_local_tabular_files(tmp_path, fmt):
    for split, n in (("train", 12), ("test", 6)):
        d = Dataset.from_dict({"f0": np.arange(n) * 1.0, "f1": np.ones(n),
                               "label": np.arange(n) % 3})
        getattr(d, f"to_{fmt}")(str(tmp_path / f"{split}.{fmt}"))
    ds = HuggingFaceSource(root=str(tmp_path), format=fmt, input_key=["f0", "f1"],
                           cache_dir=str(tmp_path / "cache")).load()
    assert ds.x_train.shape == (12, 2) and ds.x_test.shape == (6, 2)
    assert ds.x_train[:, 0].tolist() == list(range(12)) and ds.num_classes == 3


def test_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.root: not set"):
        HuggingFaceSource().load()
    with pytest.raises(DataError, match="no train.parquet"):
        HuggingFaceSource(root=str(tmp_path), format="parquet").load()
    with pytest.raises(ConfigError, match="data.format"):
        HuggingFaceSource(root=str(tmp_path), format="xlsx")
    Dataset.from_dict({"x": [1.0, 2.0], "label": [0, 1]}).save_to_disk(str(tmp_path / "s"))
    with pytest.raises(ConfigError, match=r"data\.input_key: column 'image' not in"):
        HuggingFaceSource(root=str(tmp_path / "s")).load()
