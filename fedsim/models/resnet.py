"""ResNet-18 for small images, the backbone of the common FCL protocols on CIFAR.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (BasicBlock, Fig. 2 /
Table 1 "18-layer"), with the CIFAR stem used by FCL papers (TARGET, ICCV 2023; GLFC, CVPR
2022): a 3x3 stride-1 first convolution and no max-pool, so 32x32 inputs keep 4x4 maps in the
last stage. Written here rather than taken from torchvision so the CPU install stays one pinned
torch wheel (a torchvision wheel pins its own torch build).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fedsim.errors import ConfigError


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut x)``."""
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (four stages of two BasicBlocks: 64, 128, 256, 512 channels).

    Parameters
    ----------
    input_shape : Sequence[int]
        ``(channels, height, width)`` of one input (height and width >= 8).
    num_classes : int
        Number of output logits.
    width : int
        Channels of the first stage (64 in the paper; smaller values for quick tests).
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: int = 64) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ConfigError("model", f"ResNet18 needs (C, H, W) inputs, got {tuple(input_shape)}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ConfigError("model.width", f"must be an integer >= 1, got {width!r}")
        if min(int(input_shape[1]), int(input_shape[2])) < 8:
            shape = tuple(input_shape)
            raise ConfigError("model", f"ResNet18 needs inputs of 8x8 or more, got {shape}")
        widths = [int(width) * m for m in (1, 2, 4, 8)]
        layers: list[nn.Module] = [
            nn.Conv2d(int(input_shape[0]), widths[0], 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        in_ch = widths[0]
        for stage, out_ch in enumerate(widths):
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(in_ch, out_ch, stride))
                in_ch = out_ch
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.embedding_dim = widths[-1]
        self.head = nn.Linear(widths[-1], num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Return the pooled 512-d (``8 * width``) embedding of a batch."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of a batch."""
        return self.head(self.features(x))
