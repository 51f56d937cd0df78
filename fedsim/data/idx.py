"""MNIST and Fashion-MNIST in torchvision's on-disk layout (IDX files), read with numpy.

torchvision cannot be installed leanly next to the CPU torch wheel, so the files are parsed
here: ``<root>/MNIST/raw/`` (or ``<root>/FashionMNIST/raw/``, or ``<root>`` itself) holding
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte``, each optionally gzipped (``.gz``) - exactly what
``torchvision.datasets.MNIST(root, download=True)`` leaves on disk.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedsim.data.base import ArrayDataset
from fedsim.data.local import find_file, root_dir
from fedsim.errors import ConfigError, DataError

FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array of its stored shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"data.root: '{path}' is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 0
    if len(raw) - offset < count * dtype.itemsize:
        raise DataError(f"data.root: '{path}' is truncated ({dims} declared)")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims)


@dataclass(frozen=True)
class IdxImageSource:
    """MNIST or Fashion-MNIST from local IDX files (28x28 grey images, 10 classes).

    Parameters
    ----------
    root : str
        Directory given by the user (``data.root``).
    dataset : str
        ``"mnist"`` or ``"fashion_mnist"`` (selects the ``MNIST``/``FashionMNIST`` subfolder).
    """

    root: str | None = None
    dataset: str = "mnist"

    def __post_init__(self) -> None:
        if self.dataset not in FOLDERS:
            raise ConfigError(
                "data.dataset", f"must be one of {', '.join(FOLDERS)}, got '{self.dataset}'"
            )

    @property
    def name(self) -> str:
        """Source name (the dataset)."""
        return self.dataset

    def load(self) -> ArrayDataset:
        """Read the four IDX files; scale pixels to [0, 1]."""
        folder = FOLDERS[self.dataset]
        what = (
            f"{folder}/raw/ with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (optionally .gz), as "
            f"torchvision.datasets.{folder}(root, download=True) writes them"
        )
        root = root_dir(self.root, what)
        folders = [root / folder / "raw", root / folder, root]
        arrays = {}
        for key, stem in FILES.items():
            arrays[key] = read_idx(find_file(folders, [stem, stem + ".gz"], what, root))
        for split in ("train", "test"):
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if x.ndim != 3 or len(x) != len(y):
                raise DataError(
                    f"data.root: {folder} {split} images {x.shape} do not match labels {y.shape}"
                )
        return ArrayDataset(
            name=self.dataset,
            x_train=(arrays["x_train"].astype(np.float32) / 255.0)[:, None],
            y_train=arrays["y_train"].astype(np.int64),
            x_test=(arrays["x_test"].astype(np.float32) / 255.0)[:, None],
            y_test=arrays["y_test"].astype(np.int64),
            num_classes=10,
            input_shape=(1, *arrays["x_train"].shape[1:]),
        )
