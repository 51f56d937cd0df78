"""FedProx's proximal term as a plugin of the local training loop."""

from __future__ import annotations

import torch
from torch import nn

from fedsim.client.training_loop import StepInfo
from fedsim.interfaces import BasePlugin


class ProximalTerm(BasePlugin):
    """Adds ``mu/2 * ||w - w_global||^2`` to every batch loss.

    Li et al., "Federated Optimization in Heterogeneous Networks" (MLSys 2020), Eq. (2):
    ``min_w h_k(w; w^t) = F_k(w) + mu/2 ||w - w^t||^2``. ``mu`` arrives from Flower's
    ``FedProx`` strategy as the ``proximal-mu`` config value.

    Parameters
    ----------
    model : torch.nn.Module
        The model right after loading the global weights (they are snapshotted here).
    mu : float
        Proximal coefficient (>= 0).
    """

    def __init__(self, model: nn.Module, mu: float) -> None:
        if mu < 0:
            raise ValueError(f"proximal-mu must be >= 0, got {mu}")
        self.mu = float(mu)
        self.anchor = [p.detach().clone() for p in model.parameters() if p.requires_grad]

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """Return the proximal penalty of the current weights."""
        if self.mu == 0.0:
            return None
        params = [p for p in model.parameters() if p.requires_grad]
        sq = sum(((p - a) ** 2).sum() for p, a in zip(params, self.anchor, strict=True))
        return 0.5 * self.mu * sq
