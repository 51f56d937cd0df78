"""A data source of its own: Gaussian blobs, declared keywords only (no ``**kwargs``)."""

from __future__ import annotations

import numpy as np

from fedsim.data import ArrayDataset


class BlobSource:
    """``num_classes`` Gaussian blobs in ``dim`` dimensions (train and test drawn alike).

    Parameters
    ----------
    num_classes, per_class, dim : int
        Label space, examples per class and split, input size.
    seed : int
        Data seed.
    """

    name = "blobs"

    def __init__(self, num_classes: int = 4, per_class: int = 40, dim: int = 6, seed: int = 0):
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes, self.per_class, self.dim, self.seed = num_classes, per_class, dim, seed

    def _split(self, rng: np.random.Generator, centres: np.ndarray):
        y = np.repeat(np.arange(self.num_classes), self.per_class)
        x = centres[y] + rng.normal(size=(len(y), self.dim))
        return x.astype(np.float32), y.astype(np.int64)

    def load(self) -> ArrayDataset:
        """Draw the blobs."""
        rng = np.random.default_rng(self.seed)
        centres = rng.normal(scale=3.0, size=(self.num_classes, self.dim))
        x, y = self._split(rng, centres)
        x_test, y_test = self._split(rng, centres)
        return ArrayDataset(self.name, x, y, x_test, y_test, self.num_classes, (self.dim,))
