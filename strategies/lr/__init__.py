"""LR controllers (:class:`fedsim.interfaces.LRController`): they plug into any strategy."""

from strategies.lr.fedhyper import FedHyper
from strategies.lr.fixed import FixedLR
from strategies.lr.schedules import ScheduledLR

__all__ = ["FedHyper", "FixedLR", "ScheduledLR"]
