"""Helpers shared by the sources that read files from ``data.root`` (no download, ever)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedsim.errors import ConfigError, DataError


def root_dir(root: str | None, what: str) -> Path:
    """Return ``root`` as an existing directory, else raise a one-line error naming ``data.root``.

    Parameters
    ----------
    root : str or None
        The user's ``data.root``.
    what : str
        What the directory must contain (shown in the error).
    """
    if root is None or str(root).strip() == "":
        raise ConfigError("data.root", f"not set; point it at a directory holding {what}")
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        raise DataError(f"data.root: directory '{path}' does not exist; it must hold {what}")
    return path


def find_file(folders: list[Path], names: list[str], what: str, root: Path) -> Path:
    """Return the first existing ``folder/name``; raise DataError naming where it looked."""
    for folder in folders:
        for name in names:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    where = ", ".join(str(f) for f in folders)
    raise DataError(
        f"data.root: no {names[0]} under '{root}' (looked in {where}); it must hold {what}"
    )


def stratified_test_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask holding out ``fraction`` of each class (at least one example per class)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        n_test = max(1, int(round(len(idx) * fraction)))
        mask[rng.choice(idx, size=min(n_test, len(idx) - 1) or 1, replace=False)] = True
    return mask


def check_fraction(value: float, key: str = "data.test_fraction") -> None:
    """Raise ConfigError unless ``0 < value < 1``."""
    if not 0.0 < float(value) < 1.0:
        raise ConfigError(key, f"must be in (0, 1), got {value}")
