"""A classifier by distance to learnable class prototypes (prototype learning, DCE).

Yang, Zhang, Yin, Liu, "Robust Classification with Convolutional Prototype Learning" (CVPR
2018: distance-based cross-entropy), as used by PILoRA (Guo et al., ECCV 2024, "prototype
learning", loss ``l_dce``): the probability of class ``c`` is a softmax over negative
distances between the embedding ``f(x)`` and the class prototypes ``m_c``, so the loop's
cross-entropy on these logits is the distance-based cross-entropy (DCE). Distances are squared
Euclidean (Yang et al.'s DCE) divided by the embedding dimension ``D`` (the official PILoRA
code's ``dist / x.shape[1]``, which keeps the temperature meaningful across embedding sizes;
that code then takes the square root, which changes the loss but not the nearest prototype).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fedsim.models.prototype_head import ABSENT_LOGIT


class DistanceClassifier(nn.Module):
    """Logits ``-||f(x) - m_c||^2 / (D T)``; only the listed classes' prototypes are trained.

    Parameters
    ----------
    net : torch.nn.Module
        Embedding network with ``embed(x) -> [B, D]``.
    centers : numpy.ndarray
        Starting prototypes ``[C, D]`` of every class.
    active : numpy.ndarray
        ``[C]`` bool: classes that take part in the softmax (the others are never predicted).
    trainable : Sequence[int]
        Classes whose prototypes are parameters (the rest are fixed buffers).
    temperature : float
        ``T > 0``.
    """

    def __init__(
        self,
        net: nn.Module,
        centers: np.ndarray,
        active: np.ndarray,
        trainable: Sequence[int],
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.net = net
        self.temperature = float(temperature)
        full = torch.as_tensor(np.asarray(centers), dtype=torch.float32)
        rows = torch.as_tensor(list(trainable), dtype=torch.long)
        self.register_buffer("fixed", full.clone())
        self.register_buffer("rows", rows)
        self.register_buffer("active", torch.as_tensor(np.asarray(active, dtype=bool)))
        self.learned = nn.Parameter(full[rows].clone())

    @property
    def embedding_dim(self) -> int:
        """The embedding dimension ``D``."""
        return int(self.fixed.shape[1])

    def centers(self) -> torch.Tensor:
        """All prototypes ``[C, D]``: the learned rows over the fixed ones (differentiable)."""
        return self.fixed.index_copy(0, self.rows, self.learned)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The network's embedding of a batch."""
        return self.net.embed(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``-d(f(x), m_c) / T`` per class (inactive classes get a huge negative)."""
        z = self.embed(x)
        d2 = torch.cdist(z, self.centers()).pow(2) / z.shape[1]
        logits = -d2 / self.temperature
        return torch.where(self.active[None, :], logits, torch.full_like(logits, ABSENT_LOGIT))
