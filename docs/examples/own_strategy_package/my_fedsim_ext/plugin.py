"""A loop plugin of its own: pull the weights towards zero (L2) with strength ``0.01``."""

from __future__ import annotations

import torch
from torch import nn

from fedsim.interfaces import BasePlugin

#: how many batch losses the plugin added to in this process (a test reads it)
CALLS = [0]


class L2Pull(BasePlugin):
    """Adds ``c/2 * ||w||^2`` to every batch loss (weight decay as a loss term).

    fedsim builds it for each client and round with the keywords it declares (here only
    ``model``; also offered: ``config``, ``client_id``, ``server_round``, ``exp``).
    """

    def __init__(self, model: nn.Module, c: float = 0.01) -> None:
        self.c = float(c)
        self.norm = 0.0

    def extra_loss(self, model: nn.Module, info) -> torch.Tensor | None:
        """The penalty of the current weights."""
        CALLS[0] += 1
        squared = sum((p**2).sum() for p in model.parameters() if p.requires_grad)
        self.norm = float(squared.detach()) ** 0.5
        return 0.5 * self.c * squared

    def metrics(self) -> dict[str, float]:
        """Sent with the train reply: a strategy can weight by it (``weighted_by_key``)."""
        return {"l2-norm": self.norm}
