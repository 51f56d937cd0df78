"""Clipping, noise scale and the adaptive-clipping maths against Flower's functions."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.supercore import differential_privacy as flwr_dp

from fedsim.privacy import gaussian


def test_every_clipped_update_is_inside_the_ball_and_small_ones_are_untouched():
    rng = np.random.default_rng(0)
    old = [rng.normal(size=(5, 3)), rng.normal(size=4)]
    for scale in (0.01, 0.5, 3.0, 100.0):
        new = [o + scale * rng.normal(size=o.shape) for o in old]
        out, clipped = gaussian.clip_update(new, old, clip=1.0)
        norm = gaussian.flat_norm([a - b for a, b in zip(out, old, strict=True)])
        assert norm <= 1.0 + 1e-9
        raw = gaussian.flat_norm([a - b for a, b in zip(new, old, strict=True)])
        assert clipped == (raw > 1.0)
        if not clipped:
            np.testing.assert_allclose(out[0], new[0])


def test_clipping_equals_flowers_compute_clip_model_update():
    rng = np.random.default_rng(1)
    old = [rng.normal(size=(4, 4)).astype(np.float32), rng.normal(size=3).astype(np.float32)]
    new = [o + 2 * rng.normal(size=o.shape).astype(np.float32) for o in old]
    ours, _ = gaussian.clip_update(new, old, 0.7)
    theirs = [a.copy() for a in new]
    flwr_dp.compute_clip_model_update(theirs, old, 0.7)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_noise_std_matches_on_many_draws():
    rng = np.random.default_rng(2)
    zeros = [np.zeros(200_000, dtype=np.float64)]
    std = 0.37
    noisy = gaussian.add_noise(zeros, std, rng)[0]
    assert abs(noisy.mean()) < 5 * std / np.sqrt(noisy.size)
    assert noisy.std() == pytest.approx(std, rel=0.01)


def test_local_dp_std_is_the_classic_gaussian_mechanism():
    eps, delta, sens = 0.5, 1e-5, 2.0
    assert gaussian.local_dp_std(sens, eps, delta) == pytest.approx(
        sens * np.sqrt(2 * np.log(1.25 / delta)) / eps
    )


@pytest.mark.parametrize(
    ("z", "n", "count_std"), [(0.5, 100, None), (1.0, 40, 5.0), (0.0, 10, None)]
)
def test_adaptive_noise_split_equals_flowers(z, n, count_std):
    ours = gaussian.adaptive_noise(z, n, count_std)
    theirs = flwr_dp.compute_adaptive_noise_params(z, n, count_std)
    assert ours == pytest.approx(theirs)


def test_adaptive_noise_refuses_a_count_query_without_budget():
    with pytest.raises(ValueError, match="clipped_count_stddev"):
        gaussian.adaptive_noise(1.0, 10, None)  # sigma_b = 0.5, z >= 2 sigma_b


def test_geometric_update_follows_andrew_et_al():
    # all updates unclipped (b = 1) above the target 0.5: C shrinks by exp(-eta/2)
    assert gaussian.next_clip_norm(1.0, 1.0, 0.5, 0.2) == pytest.approx(np.exp(-0.1))
    assert gaussian.next_clip_norm(1.0, 0.0, 0.5, 0.2) == pytest.approx(np.exp(0.1))
