"""Examples a machine holds itself: a SuperNode's own data, or the server's own test set.

``data=node_local`` (docs/deployment.md, "Node-local data"). On a SuperNode,
``--node-config data-path=PATH`` sets ``path`` to the node's examples; on the server, ``path``
is an optional server-side test set (without one, central evaluation is skipped). ``PATH`` is
an ``.npz`` file or a directory holding ``.npy`` files, with arrays ``x``, ``y`` (the train
examples) and optionally ``x_test``, ``y_test``. The label space and input shape are part of
the config (``num_classes``, ``input_shape``), so every machine builds the same model without
anyone seeing anyone else's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedsim.data.base import ArrayDataset
from fedsim.errors import ConfigError, DataError

TRAIN, TEST = ("x", "y"), ("x_test", "y_test")


def _read(path: Path) -> dict[str, np.ndarray]:
    if path.is_dir():
        return {p.stem: np.load(p, allow_pickle=False) for p in sorted(path.glob("*.npy"))}
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    raise DataError(f"data.path: '{path}' is neither an .npz file nor a directory")


@dataclass(frozen=True)
class NodeArraysSource:
    """Arrays from an ``.npz`` file or a directory of ``.npy`` files (``x``, ``y``, tests opt.).

    Parameters
    ----------
    num_classes : int
        Size of the label space (labels must lie in ``0..num_classes-1``).
    input_shape : list of int
        Shape of one example (e.g. ``[1, 8, 8]``); every array must match it.
    path : str, optional
        The file or directory; ``None``: no examples here (a server without a test set).
    name : str
        Shown in summaries.
    """

    num_classes: int
    input_shape: tuple[int, ...] | list[int]
    path: str | None = None
    name: str = "node_local"

    def __post_init__(self) -> None:
        if int(self.num_classes) < 2:
            raise ConfigError("data.num_classes", f"must be >= 2, got {self.num_classes}")
        if not self.input_shape or any(int(d) < 1 for d in self.input_shape):
            raise ConfigError("data.input_shape", f"must be positive sizes, got {self.input_shape}")

    def _pair(self, arrays: dict[str, Any], keys: tuple[str, str], required: bool):
        shape = tuple(int(d) for d in self.input_shape)
        if keys[0] not in arrays and keys[1] not in arrays and not required:
            return np.zeros((0, *shape), np.float32), np.zeros(0, np.int64)
        for key in keys:
            if key not in arrays:
                raise DataError(f"data.path: '{self.path}' has no array '{key}'")
        x = np.asarray(arrays[keys[0]], dtype=np.float32)
        y = np.asarray(arrays[keys[1]]).astype(np.int64)
        if x.shape[1:] != shape or len(x) != len(y) or y.ndim != 1:
            raise DataError(
                f"data.path: '{keys[0]}' {x.shape} / '{keys[1]}' {y.shape} do not match "
                f"data.input_shape {list(shape)} and one label per example"
            )
        if len(y) and (y.min() < 0 or y.max() >= int(self.num_classes)):
            raise DataError(
                f"data.path: '{keys[1]}' has labels outside 0..{int(self.num_classes) - 1}"
            )
        return x, y

    def load(self) -> ArrayDataset:
        """Load the arrays (none when ``path`` is unset)."""
        arrays = _read(Path(str(self.path)).expanduser()) if self.path else {}
        x_train, y_train = self._pair(arrays, TRAIN, required=False)
        x_test, y_test = self._pair(arrays, TEST, required=False)
        return ArrayDataset(
            name=self.name,
            x_train=x_train,
            y_train=y_train,
            x_test=x_test,
            y_test=y_test,
            num_classes=int(self.num_classes),
            input_shape=tuple(int(d) for d in self.input_shape),
        )
