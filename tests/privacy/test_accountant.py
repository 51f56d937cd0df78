"""The RDP accountant against published (ε, δ) values and a second implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedsim.privacy import accountant
from fedsim.privacy.accountant import GaussianSteps

pytest.importorskip("opacus")

#: TF-Privacy's README (tutorials/README.md, "Select Parameters"): MNIST, N=60000, B=256,
#: delta=1e-5, with its orders and the classic conversion eps = rdp - log(delta) / (a - 1).
TF_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
PUBLISHED = [(1.1, 60, 3.01), (1.3, 15, 1.19), (0.7, 45, 7.10)]


def log_a_integer(q: float, sigma: float, alpha: int) -> float:
    """Mironov, Talwar & Zhang 2019, eq. for integer alpha: log A_alpha (binomial sum)."""
    terms = [
        math.log(math.comb(alpha, k))
        + (alpha - k) * math.log(1 - q)
        + k * math.log(q)
        + (k * k - k) / (2 * sigma**2)
        for k in range(alpha + 1)
    ]
    m = max(terms)
    return m + math.log(sum(math.exp(t - m) for t in terms))


def classic_eps(orders, rdp, delta):
    """Mironov 2017, Prop. 3: eps = min_a rdp(a) + log(1/delta) / (a - 1)."""
    return min(r + math.log(1 / delta) / (a - 1) for a, r in zip(orders, rdp, strict=True))


@pytest.mark.parametrize(("sigma", "epochs", "published"), PUBLISHED)
def test_published_tf_privacy_values(sigma, epochs, published):
    n, b = 60000, 256
    steps = int(math.ceil(epochs * n / b))
    history = [GaussianSteps(sigma, b / n, steps)]
    rdp = accountant.rdp_curve(history, TF_ORDERS)
    assert classic_eps(TF_ORDERS, rdp, 1e-5) == pytest.approx(published, abs=0.01)
    # the reported eps uses Balle et al.'s tighter conversion: never larger, close
    eps = accountant.epsilon(history, 1e-5)
    assert published * 0.7 < eps <= published + 0.01


@pytest.mark.parametrize(("q", "sigma"), [(0.01, 1.0), (0.1, 2.0), (0.5, 1.5), (1.0, 3.0)])
def test_rdp_at_integer_orders_matches_the_binomial_formula(q, sigma):
    orders = [2.0, 3.0, 5.0, 8.0, 16.0]
    steps = 7
    got = accountant.rdp_curve([GaussianSteps(sigma, q, steps)], orders)
    if q == 1.0:  # no sampling: the Gaussian mechanism, a / (2 sigma^2)
        want = [steps * a / (2 * sigma**2) for a in orders]
    else:
        want = [steps * log_a_integer(q, sigma, int(a)) / (a - 1) for a in orders]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_composition_adds_and_is_monotone():
    one = [GaussianSteps(1.0, 0.05, 10)]
    eps = [accountant.epsilon(one * k, 1e-5) for k in range(1, 5)]
    assert all(b > a for a, b in zip(eps, eps[1:], strict=False))
    merged = accountant.add_steps(one, GaussianSteps(1.0, 0.05, 30))
    assert merged == [GaussianSteps(1.0, 0.05, 40)]
    assert accountant.epsilon(merged, 1e-5) == pytest.approx(eps[3])
    assert accountant.epsilon([], 1e-5) == 0.0


def test_history_items_round_trip_and_refuse_ragged_lists():
    history = [GaussianSteps(1.0, 0.1, 3), GaussianSteps(0.5, 1.0, 1)]
    assert accountant.from_items(accountant.to_items(history)) == history
    with pytest.raises(ValueError, match="differ in length"):
        accountant.from_items({accountant.SIGMA_KEY: [1.0], accountant.RATE_KEY: []})
