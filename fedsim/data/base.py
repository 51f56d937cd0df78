"""The data-source interface: a source loads train/test arrays once per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ArrayDataset:
    """Train and test arrays of one data source.

    Parameters
    ----------
    name : str
        Source name, e.g. ``"digits"``.
    x_train, y_train, x_test, y_test : numpy.ndarray
        Inputs as float32 of shape ``(n, *input_shape)`` and integer labels.
    num_classes : int
        Size of the label space.
    input_shape : tuple[int, ...]
        Shape of one input, e.g. ``(1, 8, 8)``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]


class DataSource(Protocol):
    """Anything that can produce an :class:`ArrayDataset` (cached per process by the caller)."""

    name: str

    def load(self) -> ArrayDataset:
        """Load (or generate) the arrays."""
        ...
