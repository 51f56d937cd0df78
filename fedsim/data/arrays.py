"""A user's own arrays as a data source: in memory, or an ``.npz`` file (``data=arrays``).

``fedsim data=arrays data.path=FILE.npz`` reads arrays ``x`` (inputs, ``(n, *input_shape)``)
and ``y`` (integer labels ``0..C-1``), optionally ``x_test``/``y_test``; without a test split a
stratified ``data.test_fraction`` of each class is held out. From Python,
``fedsim.run(overrides, data=(x, y))`` or ``data=ArraySource(x, y, x_test, y_test)`` does the
same with arrays in memory (the API writes them into the run directory as ``arrays.npz`` and
points ``data.path`` at it, so Ray actors and ``fedsim resume`` read the very same file).
Scenarios see an :class:`~fedsim.data.base.ArrayDataset` like any other source's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fedsim.data.base import ArrayDataset
from fedsim.data.local import check_fraction, stratified_test_mask
from fedsim.errors import ConfigError, DataError

ARRAY_KEYS = ("x", "y", "x_test", "y_test")
NPZ_TARGET = "fedsim.data.arrays.NpzSource"


def file_checksum(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex): what ``data.checksum`` holds."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_arrays(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    *,
    where: str = "data",
) -> int:
    """Check a user's arrays; return the number of classes ``C``.

    Raises
    ------
    DataError
        One line naming the array: not numeric inputs, labels that are not integers, lengths
        that differ, a test split given by half, labels outside ``0..C-1`` (every class of
        ``0..C-1`` must occur in ``y``), or input shapes that differ between the splits.
    """
    if (x_test is None) != (y_test is None):
        given, missing = ("x_test", "y_test") if y_test is None else ("y_test", "x_test")
        raise DataError(f"{where}: '{given}' given without '{missing}' (give both or neither)")
    pairs = [("x", "y", x, y)]
    if x_test is not None:
        pairs.append(("x_test", "y_test", x_test, y_test))
    for xn, yn, xs, ys in pairs:
        if xs.dtype.kind not in "biuf" or xs.ndim < 2:
            raise DataError(
                f"{where}: '{xn}' must be a numeric array of shape (n, features...), "
                f"got dtype {xs.dtype} and shape {xs.shape}"
            )
        if ys.dtype.kind not in "iu" or ys.ndim != 1:
            raise DataError(
                f"{where}: '{yn}' must be a 1-D array of integer labels, "
                f"got dtype {ys.dtype} and shape {ys.shape}"
            )
        if len(xs) != len(ys):
            raise DataError(f"{where}: '{xn}' has {len(xs)} rows but '{yn}' has {len(ys)}")
        if len(ys) == 0:
            raise DataError(f"{where}: '{yn}' is empty")
    if x_test is not None and x_test.shape[1:] != x.shape[1:]:
        raise DataError(
            f"{where}: 'x_test' rows have shape {x_test.shape[1:]}, 'x' rows {x.shape[1:]}"
        )
    classes = np.unique(y)
    num_classes = int(classes.max()) + 1
    if classes.min() < 0 or len(classes) != num_classes:
        missing = sorted(set(range(max(num_classes, 0))) - set(classes.tolist()))[:5]
        raise DataError(
            f"{where}: labels 'y' must be 0..C-1 with every class present; got "
            f"{len(classes)} distinct labels from {int(classes.min())} to {int(classes.max())}"
            + (f" (missing {missing})" if missing and classes.min() >= 0 else "")
        )
    if y_test is not None and (y_test.min() < 0 or y_test.max() >= num_classes):
        raise DataError(
            f"{where}: labels 'y_test' must lie in 0..{num_classes - 1} (the classes of 'y'), "
            f"got {int(y_test.min())}..{int(y_test.max())}"
        )
    return num_classes


def _dataset(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray | None,
    y_test: np.ndarray | None,
    test_fraction: float,
    split_seed: int,
    where: str,
) -> ArrayDataset:
    num_classes = check_arrays(x, y, x_test, y_test, where=where)
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = y.astype(np.int64)
    if x_test is None or y_test is None:
        mask = stratified_test_mask(y, test_fraction, split_seed)
        x, x_test, y, y_test = x[~mask], x[mask], y[~mask], y[mask]
    return ArrayDataset(
        name=name,
        x_train=x,
        y_train=y,
        x_test=np.ascontiguousarray(x_test, dtype=np.float32),
        y_test=np.asarray(y_test).astype(np.int64),
        num_classes=num_classes,
        input_shape=tuple(int(d) for d in x.shape[1:]),
    )


@dataclass(frozen=True, eq=False)
class ArraySource:
    """Arrays in memory as a data source (:class:`~fedsim.data.base.DataSource`).

    Parameters
    ----------
    x, y : numpy.ndarray
        Inputs ``(n, *input_shape)`` (any numeric dtype; used as float32) and integer labels
        ``0..C-1`` with every class present.
    x_test, y_test : numpy.ndarray, optional
        A test split; without one, ``test_fraction`` of each class is held out.
    test_fraction : float
        Share of each class held out when no test split is given.
    split_seed : int
        Seed of that split (independent of the run seed).
    name : str
        Name shown in summaries.
    """

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    x_test: np.ndarray | None = field(default=None, repr=False)
    y_test: np.ndarray | None = field(default=None, repr=False)
    test_fraction: float = 0.2
    split_seed: int = 0
    name: str = "arrays"

    def __post_init__(self) -> None:
        for key in ARRAY_KEYS:
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, np.asarray(value))
        check_fraction(self.test_fraction)
        check_arrays(self.x, self.y, self.x_test, self.y_test)

    def load(self) -> ArrayDataset:
        """Return the arrays as a dataset (the test split held out if none was given)."""
        return _dataset(
            self.name, self.x, self.y, self.x_test, self.y_test,
            self.test_fraction, self.split_seed, "data",
        )  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the arrays to ``path`` as an ``.npz`` that :class:`NpzSource` reads."""
        arrays = {k: getattr(self, k) for k in ARRAY_KEYS if getattr(self, k) is not None}
        path = Path(path)
        with path.open("wb") as fh:
            np.savez(fh, **arrays)
        return path


@dataclass(frozen=True)
class NpzSource:
    """``data=arrays data.path=FILE.npz``: arrays ``x``, ``y`` (and ``x_test``, ``y_test``).

    Parameters
    ----------
    path : str
        The ``.npz`` file (``numpy.savez``); read without pickle, so it cannot run code.
    test_fraction, split_seed : float, int
        As for :class:`ArraySource` (used only when the file has no test split).
    checksum : str, optional
        SHA-256 of the file (:func:`file_checksum`); a run records it before it starts, so
        every worker, and a resumed run, reads the very same bytes (and a file rewritten in a
        notebook is not mistaken for the one cached).
    name : str
        Name shown in summaries.
    """

    path: str | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    checksum: str | None = None
    name: str = "arrays"

    def __post_init__(self) -> None:
        if self.path is None or not str(self.path).strip():
            raise ConfigError("data.path", "not set; point it at an .npz file holding x and y")
        check_fraction(self.test_fraction)

    def load(self) -> ArrayDataset:
        """Read and check the file; return its dataset."""
        path = Path(str(self.path)).expanduser()
        if not path.is_file():
            raise DataError(f"data.path: file '{path}' does not exist")
        if self.checksum and file_checksum(path) != self.checksum:
            raise DataError(
                f"data.path: '{path}' changed since the run recorded it "
                f"(data.checksum {self.checksum[:12]}...); start a new run"
            )
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[:1] or [type(exc).__name__]
            raise DataError(
                f"data.path: '{path}' is not a readable .npz file ({first[0]})"
            ) from None
        missing = [k for k in ("x", "y") if k not in arrays]
        if missing:
            raise DataError(
                f"data.path: '{path}' has no array {' or '.join(repr(k) for k in missing)} "
                f"(found: {', '.join(sorted(arrays)) or 'none'}; expected x, y[, x_test, y_test])"
            )
        return _dataset(
            self.name, arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test"),
            self.test_fraction, self.split_seed, f"data.path '{path}'",
        )  # fmt: skip
