"""Houlsby bottleneck adapters inserted after Linear / Conv2d layers of a frozen backbone.

Houlsby et al., "Parameter-Efficient Transfer Learning for NLP" (ICML 2019), Sec. 2.1 and
Fig. 2: an adapter projects the layer output ``h`` down to a small width, applies a
non-linearity, projects back up and adds a skip connection: ``h + W_up f(W_down h)``.
``W_up`` starts at zero, so an untrained adapter is the identity ("near-identity
initialisation"). Several named adapters on one layer (e.g. a shared and a task-specific
one) add their residuals: ``h + sum_s W_up^s f(W_down^s h)``.
"""

from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    """Down-project, ReLU, up-project (zero-initialised) on features or channels."""

    def __init__(self, width: int, dim: int, conv: bool) -> None:
        super().__init__()
        layer = (lambda i, o: nn.Conv2d(i, o, 1)) if conv else nn.Linear
        self.down = layer(width, dim)
        self.up = layer(dim, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Return the residual update ``W_up relu(W_down h)``."""
        return self.up(torch.relu(self.down(h)))


class WithAdapters(nn.Module):
    """A frozen layer followed by named bottleneck adapters (residuals summed)."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.adapters = nn.ModuleDict()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``h + sum of adapter residuals`` with ``h = base(x)``."""
        h = self.base(x)
        out = h
        for adapter in self.adapters.values():
            out = out + adapter(h)
        return out


def add_bottlenecks(model: nn.Module, targets: list[str], dim: int, slot: str) -> None:
    """Insert a bottleneck adapter named ``slot`` after each target layer (in place)."""
    for name in targets:
        module = model.get_submodule(name)
        if not isinstance(module, WithAdapters):
            wrapper = WithAdapters(module)
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, wrapper)
            module = wrapper
        base = module.base
        if isinstance(base, nn.Conv2d):
            module.adapters[slot] = Bottleneck(base.out_channels, dim, conv=True)
        elif isinstance(base, nn.Linear):
            module.adapters[slot] = Bottleneck(base.out_features, dim, conv=False)
        else:
            raise ValueError(f"strategy.adapter.targets: '{name}' is not a Linear or Conv2d layer")
