"""Prototype noise: clipped class sums by hand, absent classes dropped, noise scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from fedsim.client.plugins.prototype_noise import clipped_class_sums, noisy_means, release_steps


class Embed(nn.Module):
    embedding_dim = 4

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(3, 4)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return 5 * self.lin(x)


def test_sums_are_of_clipped_embeddings_by_hand():
    model = Embed()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = np.array([0, 1] * 10)
    sums, counts = clipped_class_sums(model, x, y, [0, 1, 2], clip=1.0, batch_size=7)
    f = model.embed(torch.from_numpy(x)).detach().double().numpy()
    f = f * np.minimum(1.0, 1.0 / np.linalg.norm(f, axis=1))[:, None]
    np.testing.assert_allclose(sums[0], f[y == 0].sum(0), rtol=1e-6)
    np.testing.assert_allclose(counts, [10, 10, 0])
    assert np.linalg.norm(sums[1]) <= counts[1] * 1.0 + 1e-9


def test_without_noise_absent_classes_are_dropped_and_means_exact():
    sums = np.array([[2.0, 0.0], [0.0, 0.0]])
    counts = np.array([4.0, 0.0])
    classes, means, kept = noisy_means(sums, counts, [3, 7], clip=1.0, noise_multiplier=0.0,
                                       rng=np.random.default_rng(0))  # fmt: skip
    assert classes.tolist() == [3] and kept.tolist() == [4.0]
    np.testing.assert_allclose(means, [[0.5, 0.0]])


def test_noise_scale_on_sums_and_counts():
    k, d, z, c = 4000, 50, 0.7, 2.0
    sums, counts = np.zeros((k, d)), np.full(k, 1e6)
    rng = np.random.default_rng(1)
    _, means, noisy_counts = noisy_means(
        sums, counts, list(range(k)), clip=c, noise_multiplier=z, rng=rng
    )
    assert (means * noisy_counts[:, None]).std() == pytest.approx(z * c, rel=0.02)
    assert (noisy_counts - 1e6).std() == pytest.approx(z, rel=0.05)
    assert release_steps(z).sigma == pytest.approx(z / math.sqrt(2))
