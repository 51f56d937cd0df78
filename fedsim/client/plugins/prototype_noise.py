"""Gaussian noise on a client's prototype contribution (class-mean embeddings and counts).

What a prototype contribution leaks without it (docs/privacy.md): which classes the client
holds, how many examples of each, and the mean embedding of each class. With noise, for the
slot's *task classes* (public: the scenario's plan, so presence is not read from the data):

    S_c = sum_{i: y_i = c} clip(f_i, C),   S~_c = S_c + N(0, (z C)^2 I),   n~_c = n_c + N(0, z^2)

with ``f_i`` the embedding of example i and ``clip(f, C) = f min(1, C / ||f||)``. Adding or
removing one example moves one class's ``(S_c / C, n_c)`` by at most sqrt(2) in L2, so one
release is the Gaussian mechanism with noise multiplier ``z / sqrt(2)`` (Dwork & Roth 2014,
Thm. A.1; accounted by RDP, :mod:`fedsim.privacy.accountant`). The contribution sent is the
post-processing ``m_c = S~_c / n~_c`` for the classes with ``n~_c >= 1`` (others are dropped,
their presence hidden by the noise on the count).

The guarantee is conditional on the embedding network: it holds when the network does not
depend on the client's own data (fedrecon with ``freeze: true`` after the base phase, or a
received, untrained model); prototypes of a network the client just trained on the same
data (FedProto) get the same noise, but the trained network is itself a function of the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fedsim.privacy import accountant

#: a class is kept when its noisy count reaches this
MIN_NOISY_COUNT = 1.0


@torch.no_grad()
def clipped_class_sums(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[int],
    clip: float,
    *,
    transform=None,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """``(sums [k, d], counts [k])`` of clipped embeddings for each of ``classes``."""
    model.eval()
    pos = {int(c): i for i, c in enumerate(classes)}
    sums = np.zeros((len(classes), int(model.embedding_dim)))
    counts = np.zeros(len(classes))
    device = next(iter(model.parameters())).device
    xt = torch.from_numpy(np.asarray(x)).to(device)
    labels = np.asarray(y, dtype=np.int64)
    for start in range(0, len(labels), batch_size):
        inputs = xt[start : start + batch_size]
        if transform is not None:
            inputs = transform(inputs)
        f = model.embed(inputs).double().cpu().numpy()
        norms = np.linalg.norm(f, axis=1)
        f = f * np.minimum(1.0, clip / np.maximum(norms, 1e-12))[:, None]
        for row, label in zip(f, labels[start : start + batch_size], strict=True):
            if int(label) in pos:
                sums[pos[int(label)]] += row
                counts[pos[int(label)]] += 1
    return sums, counts


def noisy_means(
    sums: np.ndarray,
    counts: np.ndarray,
    classes: Sequence[int],
    *,
    clip: float,
    noise_multiplier: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(classes, means, counts)`` kept after noising sums (std zC) and counts (std z)."""
    z = float(noise_multiplier)
    noisy_sums = sums + rng.normal(0.0, z * clip, sums.shape)
    noisy_counts = counts + rng.normal(0.0, z, counts.shape)
    keep = noisy_counts >= MIN_NOISY_COUNT
    kept = np.asarray(classes, dtype=np.int64)[keep]
    means = (noisy_sums[keep] / noisy_counts[keep][:, None]).astype(np.float32)
    return kept, means, noisy_counts[keep]


def release_steps(noise_multiplier: float) -> accountant.GaussianSteps:
    """One release's accounting entry: Gaussian, multiplier z / sqrt(2), no sampling."""
    return accountant.GaussianSteps(float(noise_multiplier) / math.sqrt(2.0), 1.0, 1)
