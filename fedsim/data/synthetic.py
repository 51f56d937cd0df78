"""Synthetic Gaussian class clusters whose training inputs are computed on demand, never stored.

``x[i] = centers[y[i]] + noise * z(i)`` where ``z(i)`` is a standard normal vector produced by a
counter-based generator (SplitMix64 of ``(seed, i, j)`` + Box-Muller): any example can be
recomputed from its index alone, so a 100,000-client federation holds only the labels (8 bytes
an example) and every worker materialises just the batches of the slots it trains. Per-task
domain shift comes from the scenario (``domain_incremental`` with ``shift=shift|noise|...``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fedsim.data.base import ArrayDataset
from fedsim.errors import ConfigError

_M1, _M2, _GOLD = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(
    0x9E3779B97F4A7C15
)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLD
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def counter_normal(seed: int, rows: np.ndarray, dim: int) -> np.ndarray:
    """Standard normals ``(len(rows), dim)``, a pure function of ``(seed, row, column)``."""
    base = (np.asarray(rows, dtype=np.uint64)[:, None] * np.uint64(2 * dim)
            + np.arange(0, 2 * dim, 2, dtype=np.uint64)[None, :])
    key = _splitmix(np.array([seed], dtype=np.uint64))
    with np.errstate(over="ignore"):
        a = _splitmix(base ^ key)
        b = _splitmix((base + np.uint64(1)) ^ key)
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = (b >> np.uint64(11)).astype(np.float64) / 2.0**53
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)).astype(np.float32)


class ClusterArray:
    """A read-only float32 array ``(n, *shape)`` whose rows are computed when indexed.

    Supports what the learners use: ``len``, ``shape``, ``dtype``, ``ndim`` and indexing by an
    integer, a slice or an integer array (returns a real ``numpy.ndarray``).
    """

    def __init__(
        self, labels: np.ndarray, centers: np.ndarray, noise: float, seed: int,
        shape: tuple[int, ...],
    ) -> None:
        self.labels = labels
        self.centers = centers
        self.noise = float(noise)
        self.seed = int(seed)
        self.row_shape = tuple(shape)
        self.dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n, *row_shape)``."""
        return (len(self.labels), *self.row_shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return 1 + len(self.row_shape)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index) -> np.ndarray:
        rows = np.arange(len(self))[index]
        single = np.ndim(rows) == 0
        rows = np.atleast_1d(rows).astype(np.int64)
        dim = self.centers.shape[1]
        x = self.centers[self.labels[rows]] + self.noise * counter_normal(self.seed, rows, dim)
        x = x.reshape(len(rows), *self.row_shape)
        return x[0] if single else x

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[np.arange(len(self))]
        return out if dtype is None else out.astype(dtype)


@dataclass(frozen=True)
class SyntheticSource:
    """Gaussian clusters, one per class; training inputs virtual, test inputs materialised.

    Parameters
    ----------
    num_classes : int
        Number of classes (clusters).
    train_per_class, test_per_class : int
        Examples per class in each split (train is virtual: 8 bytes of label per example).
    input_shape : list[int]
        Shape of one input, e.g. ``[1, 8, 8]`` (images: rotations apply) or ``[32]``.
    separation : float
        Standard deviation of the cluster centres (per feature); larger is easier.
    noise : float
        Standard deviation of the within-class noise (per feature).
    seed : int
        Seed of the centres and the noise (independent of the run seed).
    """

    num_classes: int = 10
    train_per_class: int = 500
    test_per_class: int = 100
    input_shape: tuple[int, ...] = (1, 8, 8)
    separation: float = 0.5
    noise: float = 1.0
    seed: int = 0
    name: str = "synthetic"

    def __post_init__(self) -> None:
        for key in ("num_classes", "train_per_class", "test_per_class"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"data.{key}", f"must be >= 1, got {getattr(self, key)}")
        if self.num_classes < 2:
            raise ConfigError("data.num_classes", "must be >= 2")
        if not self.input_shape or any(int(s) < 1 for s in self.input_shape):
            raise ConfigError("data.input_shape", f"must be positive sizes, got {self.input_shape}")
        for key in ("separation", "noise"):
            if not float(getattr(self, key)) >= 0:
                raise ConfigError(f"data.{key}", f"must be >= 0, got {getattr(self, key)}")

    def load(self) -> ArrayDataset:
        """Draw the centres; build the virtual train array and the materialised test split."""
        shape = tuple(int(s) for s in self.input_shape)
        dim = math.prod(shape)
        rng = np.random.default_rng([int(self.seed), 11])
        centers = (float(self.separation) * rng.standard_normal((self.num_classes, dim))).astype(
            np.float32
        )
        y_train = np.repeat(np.arange(self.num_classes, dtype=np.int64), int(self.train_per_class))
        y_test = np.repeat(np.arange(self.num_classes, dtype=np.int64), int(self.test_per_class))
        x_train = ClusterArray(y_train, centers, self.noise, self.seed * 2, shape)
        x_test = ClusterArray(y_test, centers, self.noise, self.seed * 2 + 1, shape)
        return ArrayDataset(
            name=self.name,
            x_train=x_train,
            y_train=y_train,
            x_test=x_test[np.arange(len(y_test))],
            y_test=y_test,
            num_classes=int(self.num_classes),
            input_shape=shape,
        )
