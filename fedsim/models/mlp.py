"""A multi-layer perceptron with an explicit embedding (feature) layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

import torch
from torch import nn

from fedsim.errors import ConfigError


class MLP(nn.Module):
    """Flatten -> hidden layers with ReLU -> linear head.

    The output of the last hidden layer is the embedding (``embed``), used by
    prototype methods; ``forward`` returns class logits.

    Parameters
    ----------
    input_shape : Sequence[int]
        Shape of one input.
    num_classes : int
        Number of output logits.
    hidden : Sequence[int]
        Widths of the hidden layers.
    """

    def __init__(
        self, input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (128,)
    ) -> None:
        super().__init__()
        if isinstance(hidden, int | float | str) or not hidden:
            raise ConfigError(
                "model.hidden", f"must be a list of widths, e.g. [128], got {hidden!r}"
            )
        if any(not isinstance(h, Integral) or isinstance(h, bool) or h < 1 for h in hidden):
            raise ConfigError(
                "model.hidden", f"widths must be positive integers, got {list(hidden)}"
            )
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(int(s) for s in input_shape)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        self.features = nn.Sequential(*layers)
        self.embedding_dim = width
        self.head = nn.Linear(width, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Return the embedding of a batch."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of a batch."""
        return self.head(self.features(x))
