"""Data sources: arrays in memory, addressed by the indices of a scenario plan."""

from fedsim.data.arrays import ArraySource, NpzSource
from fedsim.data.base import ArrayDataset, DataSource

__all__ = ["ArrayDataset", "ArraySource", "DataSource", "NpzSource"]
