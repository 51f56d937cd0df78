"""Hugging Face datasets from disk: ``save_to_disk`` folders, local parquet/csv/json, or the cache.

Nothing is downloaded: ``format=disk`` uses ``datasets.load_from_disk``; ``parquet|csv|json``
use ``datasets.load_dataset(<format>, data_files=...)`` on local files; ``hub`` calls
``datasets.load_dataset(root)`` with ``HF_DATASETS_OFFLINE=1`` so only an already cached
dataset loads. Inputs are an image column (PIL images, via ``numpy.asarray``) or one or more
numeric columns stacked into a vector.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedsim.data.base import ArrayDataset
from fedsim.data.local import check_fraction, root_dir, stratified_test_mask
from fedsim.errors import ConfigError, DataError

FORMATS = ("disk", "parquet", "csv", "json", "hub")


@dataclass(frozen=True)
class HuggingFaceSource:
    """A ``datasets`` dataset read offline.

    Parameters
    ----------
    root : str
        ``disk``: a ``save_to_disk`` folder (DatasetDict or Dataset); ``parquet|csv|json``: a
        folder holding ``train.<fmt>`` and optionally ``test.<fmt>``, or one file;
        ``hub``: the dataset name (must be in the local cache).
    format : str
        One of ``disk``, ``parquet``, ``csv``, ``json``, ``hub``.
    input_key : str or list[str]
        Image column, or numeric columns to stack into a vector.
    label_key : str
        Integer label column.
    train_split, test_split : str
        Split names; without a test split, ``test_fraction`` of train is held out (stratified).
    test_fraction : float
        Share held out when there is no test split.
    split_seed : int
        Seed of that split.
    cache_dir : str, optional
        Where ``load_dataset`` keeps its Arrow cache.
    """

    root: str | None = None
    format: str = "disk"
    input_key: str | list[str] = "image"
    label_key: str = "label"
    train_split: str = "train"
    test_split: str = "test"
    test_fraction: float = 0.2
    split_seed: int = 0
    cache_dir: str | None = None
    name: str = "huggingface"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(
                "data.format", f"must be one of {', '.join(FORMATS)}, got '{self.format}'"
            )
        check_fraction(self.test_fraction)

    def _splits(self) -> dict:
        import datasets

        what = "a datasets save_to_disk folder" if self.format == "disk" else (
            f"train.{self.format} (and optionally test.{self.format})")
        if self.format == "hub":
            if not self.root:
                raise ConfigError("data.root", "set it to the cached dataset's name")
            os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
            try:
                return dict(datasets.load_dataset(str(self.root), cache_dir=self.cache_dir))
            except Exception as exc:  # noqa: BLE001 - report one line
                raise DataError(f"data.root: '{self.root}' is not in the local HF cache ({exc})"
                                ) from None
        if self.root and Path(str(self.root)).expanduser().is_file():
            files = {self.train_split: str(Path(str(self.root)).expanduser())}
        else:
            root = root_dir(self.root, what)
            if self.format == "disk":
                try:
                    loaded = datasets.load_from_disk(str(root))
                except FileNotFoundError as exc:
                    raise DataError(f"data.root: '{root}' is not a save_to_disk folder ({exc})"
                                    ) from None
                if isinstance(loaded, datasets.Dataset):
                    return {self.train_split: loaded}
                return dict(loaded)
            names = (self.train_split, self.test_split)
            files = {s: str(root / f"{s}.{self.format}") for s in names
                     if (root / f"{s}.{self.format}").is_file()}
            if self.train_split not in files:
                raise DataError(f"data.root: no {self.train_split}.{self.format} in '{root}'")
        return dict(datasets.load_dataset(self.format, data_files=files, cache_dir=self.cache_dir))

    def _arrays(self, ds) -> tuple[np.ndarray, np.ndarray]:
        keys = [self.input_key] if isinstance(self.input_key, str) else list(self.input_key)
        for key in [*keys, self.label_key]:
            if key not in ds.column_names:
                raise ConfigError("data.input_key" if key != self.label_key else "data.label_key",
                                  f"column '{key}' not in {ds.column_names}")
        y = np.asarray(ds[self.label_key], dtype=np.int64)
        if len(keys) > 1:
            x = np.stack([np.asarray(ds[k], dtype=np.float32) for k in keys], axis=1)
            return x, y
        col = ds[keys[0]]
        first = col[0]
        if hasattr(first, "convert"):  # PIL image
            x = np.stack([np.asarray(img) for img in col])
            x = x[:, None] if x.ndim == 3 else np.transpose(x, (0, 3, 1, 2))
            x = x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0)
        else:
            x = np.asarray(col, dtype=np.float32)
            if x.ndim == 1:
                x = x[:, None]
        return x, y

    def load(self) -> ArrayDataset:
        """Load the splits and convert them to arrays."""
        splits = self._splits()
        if self.train_split not in splits:
            raise DataError(f"data.train_split: '{self.train_split}' not in {sorted(splits)}")
        x, y = self._arrays(splits[self.train_split])
        if self.test_split in splits:
            x_test, y_test = self._arrays(splits[self.test_split])
        else:
            mask = stratified_test_mask(y, self.test_fraction, self.split_seed)
            x, y, x_test, y_test = x[~mask], y[~mask], x[mask], y[mask]
        if x.shape[1:] != x_test.shape[1:]:
            raise DataError(f"data: train inputs {x.shape[1:]} differ from test {x_test.shape[1:]}")
        if min(y.min(), y_test.min()) < 0:
            raise DataError(f"data.label_key: labels must be >= 0 integers ('{self.label_key}')")
        return ArrayDataset(
            name=self.name,
            x_train=np.ascontiguousarray(x),
            y_train=y,
            x_test=np.ascontiguousarray(x_test),
            y_test=y_test,
            num_classes=int(max(y.max(), y_test.max())) + 1,
            input_shape=tuple(int(s) for s in x.shape[1:]),
        )
