"""Bring your own training-loop plugin: a confidence penalty on the logits.

A plugin of the one local loop (``fedsim.client.training_loop.train_local``) *returns values*
and never mutates the trainer: here ``extra_loss`` returns ``-beta * H(softmax(z))`` (Pereyra
et al., "Regularizing Neural Networks by Penalizing Confident Output Distributions", 2017,
Eq. 2: ``L = CE - beta * H(p)``), added to each batch's cross-entropy. Subclass
:class:`fedsim.interfaces.BasePlugin` and override only the hooks you need (``order``,
``extra_loss``, ``next_lr``, ``metrics``).
"""

from __future__ import annotations

import torch
from torch import nn

from fedsim.client.training_loop import StepInfo
from fedsim.interfaces import BasePlugin


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean entropy ``H(p) = -sum_c p_c log p_c`` of the softmax of each row of ``logits``."""
    logp = torch.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(dim=1).mean()


class ConfidencePenalty(BasePlugin):
    """Adds ``-beta * H(softmax(logits))`` to every batch loss.

    Parameters
    ----------
    beta : float
        Penalty weight (>= 0); 0 leaves the loop unchanged.
    """

    def __init__(self, beta: float = 0.1) -> None:
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = float(beta)
        self.last_entropy = float("nan")

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """The penalty of this batch (``None``: no term)."""
        if self.beta == 0.0:
            return None
        h = entropy(info.logits)
        self.last_entropy = float(h.detach())
        return -self.beta * h

    def metrics(self) -> dict[str, float]:
        """Reported with the client's train reply."""
        return {"entropy": self.last_entropy}
