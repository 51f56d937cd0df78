"""scikit-learn's bundled handwritten digits: real data, no download (the default source)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim.data.base import ArrayDataset
from fedsim.errors import ConfigError


@dataclass(frozen=True)
class DigitsSource:
    """The UCI 8x8 handwritten digits shipped with scikit-learn (1,797 images, 10 classes).

    Parameters
    ----------
    test_fraction : float
        Share of each class held out as the test split (stratified).
    split_seed : int
        Seed of the stratified train/test split (independent of the run seed so
        that every run scores on the same test set).
    """

    test_fraction: float = 0.25
    split_seed: int = 0
    name: str = "digits"

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError("data.test_fraction", f"must be in (0, 1), got {self.test_fraction}")

    def load(self) -> ArrayDataset:
        """Load the digits and split them, stratified per class."""
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
        y = bunch.target.astype(np.int64)
        rng = np.random.default_rng(self.split_seed)
        test_mask = np.zeros(len(y), dtype=bool)
        for label in np.unique(y):
            idx = np.flatnonzero(y == label)
            n_test = max(1, int(round(len(idx) * self.test_fraction)))
            test_mask[rng.choice(idx, size=n_test, replace=False)] = True
        return ArrayDataset(
            name=self.name,
            x_train=x[~test_mask],
            y_train=y[~test_mask],
            x_test=x[test_mask],
            y_test=y[test_mask],
            num_classes=10,
            input_shape=(1, 8, 8),
        )
