"""Learning-rate controllers: they plug into any strategy through the round loop."""

from strategies.lr.base import LRController
from strategies.lr.fixed import FixedLR

__all__ = ["FixedLR", "LRController"]
