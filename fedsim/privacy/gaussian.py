"""The Gaussian mechanism on model updates: flat L2 clipping, noise, adaptive clip norm.

Free functions shared by central DP (:mod:`strategies.central_dp`), local DP
(:mod:`fedsim.client.plugins.local_dp`) and prototype noise
(:mod:`fedsim.client.plugins.prototype_noise`). The maths is Flower's
(``flwr.supercore.differential_privacy``), with one difference: noise is drawn from a
seeded ``numpy.random.Generator`` (run seed, round, client), never numpy's global RNG, so a
run and its resume draw the same noise (DESIGN.md rule 7).

References: McMahan et al. 2018, "Learning Differentially Private Recurrent Language Models"
(clip each update to norm C, noise N(0, (zC)^2) on the sum); Andrew et al. 2021,
"Differentially Private Learning with Adaptive Clipping" (C <- C exp(-eta (b - gamma)),
Alg. 1; noise split between the update and the clipped-count query, Thm. 1); Dwork & Roth
2014, Thm. A.1 (the (ε, δ) Gaussian mechanism for local DP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def flat_norm(arrays: Sequence[np.ndarray]) -> float:
    """L2 norm of all arrays flattened into one vector."""
    return float(math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


def clip_scale(norm: float, clip: float) -> float:
    """The factor ``min(1, C / norm)`` that brings a vector of ``norm`` inside the C-ball."""
    return 1.0 if norm <= clip else clip / norm


def clip_update(
    new: Sequence[np.ndarray], old: Sequence[np.ndarray], clip: float
) -> tuple[list[np.ndarray], bool]:
    """Return ``old + clip(new - old)`` and whether the update was scaled down.

    ``clip(u) = u * min(1, C / ||u||_2)`` over all arrays flattened (FlatClip, McMahan et
    al. 2018).
    """
    update = [np.subtract(n, o) for n, o in zip(new, old, strict=True)]
    scale = clip_scale(flat_norm(update), clip)
    rows = zip(new, old, update, strict=True)
    out = [(o + u * scale).astype(np.asarray(n).dtype) for n, o, u in rows]
    return out, scale < 1.0


def add_noise(
    arrays: Sequence[np.ndarray], std: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Each array plus i.i.d. N(0, std^2) noise, drawn array by array in order."""
    return [
        (a + rng.normal(0.0, std, np.shape(a)).astype(np.asarray(a).dtype)).astype(
            np.asarray(a).dtype
        )
        for a in arrays
    ]


def local_dp_std(sensitivity: float, epsilon: float, delta: float) -> float:
    """Noise std of the (ε, δ) Gaussian mechanism: ``Δ sqrt(2 ln(1.25/δ)) / ε`` (ε < 1)."""
    return float(sensitivity * math.sqrt(2.0 * math.log(1.25 / delta)) / epsilon)


def adaptive_noise(
    noise_multiplier: float, num_clients: float, count_std: float | None
) -> tuple[float, float]:
    """Split ``noise_multiplier`` z between the update and the clipped-count query.

    Returns ``(count_std, z_update)`` with ``z_update = (z^-2 - (2 sigma_b)^-2)^(-1/2)``
    (Andrew et al. 2021, Thm. 1), ``sigma_b = num_clients / 20`` by default; z = 0 gives
    ``(count_std or 0, 0)``.

    Raises
    ------
    ValueError
        ``z >= 2 sigma_b``: the count query would need more than all the privacy budget.
    """
    if noise_multiplier <= 0:
        return (count_std or 0.0), 0.0
    sigma_b = num_clients / 20.0 if count_std is None else float(count_std)
    if noise_multiplier >= 2 * sigma_b:
        raise ValueError(
            f"noise_multiplier={noise_multiplier} needs clipped_count_stddev > "
            f"{noise_multiplier / 2} (default: clients per round / 20 = {num_clients / 20})"
        )
    return sigma_b, float((noise_multiplier**-2 - (2 * sigma_b) ** -2) ** -0.5)


def next_clip_norm(clip: float, clipped_fraction: float, target: float, lr: float) -> float:
    """Geometric update ``C exp(-eta (b - gamma))`` of Andrew et al. 2021 (Alg. 1)."""
    return float(clip * math.exp(-lr * (clipped_fraction - target)))
