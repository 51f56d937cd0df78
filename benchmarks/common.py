"""Pieces shared by the plain-Flower and raw-PyTorch implementations (same math as fedsim)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fedsim.data.digits import DigitsSource
from fedsim.models.cnn import SmallCNN
from fedsim.models.mlp import MLP

LR = 0.05
BATCH = 16
EPOCHS = 1

_DATA = {}


def data():
    """The digits arrays (cached per process)."""
    if "d" not in _DATA:
        _DATA["d"] = DigitsSource().load()
    return _DATA["d"]


def make_model(name: str) -> nn.Module:
    """Build the light (``mlp``) or heavier (``cnn``) model with a fixed init."""
    torch.manual_seed(0)
    if name == "mlp":
        return MLP((1, 8, 8), 10, hidden=[64])
    if name == "cnn":
        return SmallCNN((1, 8, 8), 10, channels=32, embedding_dim=64)
    raise ValueError(name)


def train_epoch(model: nn.Module, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    """One epoch of mini-batch SGD with cross-entropy (on the model's device); the mean loss."""
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    model.train()
    dev = next(model.parameters()).device
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    order = rng.permutation(len(y))
    total, steps = 0.0, 0
    for _ in range(EPOCHS):
        for s in range(0, len(order), BATCH):
            idx = torch.from_numpy(order[s : s + BATCH]).to(dev)
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
            steps += 1
    return total / max(steps, 1)


@torch.no_grad()
def accuracy(model: nn.Module) -> float:
    """Accuracy on the digits test split."""
    d = data()
    model.eval()
    dev = next(model.parameters()).device
    pred = model(torch.from_numpy(d.x_test).to(dev)).argmax(1).cpu().numpy()
    return float((pred == d.y_test).mean())
