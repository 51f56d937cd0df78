"""CIFAR-10 / CIFAR-100 in torchvision's on-disk layout (python pickle batches), read with numpy.

``<root>/cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, or
``<root>/cifar-100-python/`` with ``train`` and ``test`` - the folders the official tarballs
unpack to and that ``torchvision.datasets.CIFAR10/CIFAR100(root, download=True)`` uses.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedsim.data.base import ArrayDataset
from fedsim.data.local import find_file, root_dir
from fedsim.errors import ConfigError, DataError

#: The only globals a CIFAR batch may reference: numpy's array reconstruction (numpy 1 and 2
#: module names) and ``_codecs.encode`` (bytes in protocol-2 pickles). Anything else - e.g. a
#: ``__reduce__`` payload calling ``os.system`` - is refused before it can run.
SAFE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
})


class DataOnlyUnpickler(pickle.Unpickler):
    """Unpickle arrays, lists, dicts, numbers and strings only (never code)."""

    def find_class(self, module: str, name: str):
        """Allow the globals of :data:`SAFE_GLOBALS`; refuse everything else."""
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load '{module}.{name}': a CIFAR batch holds only arrays, lists and "
            "strings"
        )


LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]),
    "cifar100": ("cifar-100-python", ["train"], ["test"]),
}


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickle batch: images ``(n, 3, 32, 32)`` uint8 and integer labels."""
    try:
        with open(path, "rb") as fh:
            entry = DataOnlyUnpickler(fh, encoding="latin1").load()
    except OSError as exc:
        raise DataError(f"data.root: cannot read '{path}' ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle raises almost anything
        raise DataError(
            f"data.root: '{path}' is not a CIFAR pickle batch ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(entry, dict) or "data" not in entry or label_key not in entry:
        raise DataError(f"data.root: '{path}' lacks the 'data' / '{label_key}' entries")
    try:
        x = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(entry[label_key], dtype=np.int64)
    except (ValueError, TypeError) as exc:
        raise DataError(f"data.root: '{path}' holds malformed CIFAR arrays ({exc})") from None
    if len(x) != len(y):
        raise DataError(f"data.root: '{path}' has {len(x)} images but {len(y)} labels")
    return x, y


@dataclass(frozen=True)
class CifarSource:
    """CIFAR-10 (10 classes) or CIFAR-100 (100 fine or 20 coarse classes) from local files.

    Parameters
    ----------
    root : str
        Directory given by the user (``data.root``).
    dataset : str
        ``"cifar10"`` or ``"cifar100"``.
    label : str
        CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
    """

    root: str | None = None
    dataset: str = "cifar10"
    label: str = "fine"

    def __post_init__(self) -> None:
        if self.dataset not in LAYOUT:
            raise ConfigError(
                "data.dataset", f"must be one of cifar10, cifar100, got '{self.dataset}'"
            )
        if self.label not in ("fine", "coarse"):
            raise ConfigError("data.label", f"must be fine or coarse, got '{self.label}'")

    @property
    def name(self) -> str:
        """Source name (the dataset)."""
        return self.dataset

    def load(self) -> ArrayDataset:
        """Read the batches; scale pixels to [0, 1]."""
        folder, train_files, test_files = LAYOUT[self.dataset]
        what = f"{folder}/ with {', '.join(train_files + test_files)} (python pickle batches)"
        root = root_dir(self.root, what)
        folders = [root / folder, root]
        key = "labels" if self.dataset == "cifar10" else f"{self.label}_labels"
        splits = {}
        for split, files in (("train", train_files), ("test", test_files)):
            parts = [read_batch(find_file(folders, [f], what, root), key) for f in files]
            splits[split] = (
                np.concatenate([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]),
            )
        num_classes = 10 if self.dataset == "cifar10" else (100 if self.label == "fine" else 20)
        return ArrayDataset(
            name=self.dataset,
            x_train=splits["train"][0].astype(np.float32) / 255.0,
            y_train=splits["train"][1],
            x_test=splits["test"][0].astype(np.float32) / 255.0,
            y_test=splits["test"][1],
            num_classes=num_classes,
            input_shape=(3, 32, 32),
        )
