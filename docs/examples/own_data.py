"""Bring your own data: a data source is a class with ``name`` and ``load()``.

``load`` returns a :class:`fedsim.data.base.ArrayDataset` (float32 inputs, integer labels, a
train and a test split); fedsim loads it once per process and never copies it per client
(scenarios hand out *indices*). Here: three Gaussian blobs in 2-D, generated from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim.data.base import ArrayDataset


@dataclass(frozen=True)
class BlobsSource:
    """Gaussian class clusters in 2-D (an illustration of the ``DataSource`` protocol).

    Parameters
    ----------
    per_class : int
        Train examples per class (the test split has a quarter as many).
    num_classes : int
        Number of classes (blobs).
    seed : int
        Data seed, independent of the run seed (every run scores on the same test set).
    """

    per_class: int = 200
    num_classes: int = 4
    seed: int = 0
    name: str = "blobs"

    def load(self) -> ArrayDataset:
        """Draw the blobs: class ``k`` is centred at ``(cos 2πk/K, sin 2πk/K) * 3``."""
        rng = np.random.default_rng(self.seed)
        angle = 2 * np.pi * np.arange(self.num_classes) / self.num_classes
        centres = 3 * np.stack([np.cos(angle), np.sin(angle)], axis=1)

        def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
            y = np.repeat(np.arange(self.num_classes), n)
            x = centres[y] + rng.normal(size=(len(y), 2))
            return x.astype(np.float32), y.astype(np.int64)

        x_train, y_train = draw(self.per_class)
        x_test, y_test = draw(max(1, self.per_class // 4))
        return ArrayDataset(self.name, x_train, y_train, x_test, y_test,
                            num_classes=self.num_classes, input_shape=(2,))
