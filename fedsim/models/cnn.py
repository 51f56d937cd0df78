"""A small convolutional network for small images (8x8 digits up to 32x32 CIFAR)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks (conv3x3 -> ReLU -> maxpool) -> global average pool -> linear embedding.

    Parameters
    ----------
    input_shape : Sequence[int]
        ``(channels, height, width)`` of one input.
    num_classes : int
        Number of output logits.
    channels : int
        Channels of the conv blocks.
    embedding_dim : int
        Width of the embedding layer before the head.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: int = 32,
        embedding_dim: int = 64,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"model: SmallCNN needs (C, H, W) inputs, got {tuple(input_shape)}")
        c = int(input_shape[0])
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, embedding_dim),
            nn.ReLU(),
        )
        self.embedding_dim = embedding_dim
        self.head = nn.Linear(embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Return the embedding of a batch."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of a batch."""
        return self.head(self.features(x))
