"""Learning-rate controllers: they plug into any strategy through the round loop."""

from strategies.lr.base import LRController
from strategies.lr.fedhyper import FedHyper
from strategies.lr.fixed import FixedLR
from strategies.lr.schedules import ScheduledLR

__all__ = ["FedHyper", "FixedLR", "LRController", "ScheduledLR"]
