"""Rényi-DP accounting of the (subsampled) Gaussian mechanism, composed over recorded steps.

A client's privacy history is a short list of :class:`GaussianSteps` — (noise multiplier
``sigma``, sampling rate ``q``, number of steps) — kept in the client's state as plain lists
(data only, so it travels in the message, the client store and the checkpoint). Its
:func:`epsilon` for a ``delta`` composes the RDP curves of every entry (RDP composes
additively, Mironov 2017, Prop. 1) and converts to (ε, δ)-DP.

The RDP of the sampled Gaussian mechanism (Mironov, Talwar & Zhang 2019, "Rényi
Differential Privacy of the Sampled Gaussian Mechanism") and the conversion to (ε, δ)
(Balle et al. 2020, Thm. 21) are Opacus's (``opacus.accountants.analysis.rdp``, an optional
dependency: ``pip install fedsim[privacy]``); :func:`require_opacus` refuses in one line when
it is not installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Rényi orders evaluated (Opacus's default set).
DEFAULT_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(12, 64)]
)
#: Client-state keys of the history (lists of equal length).
SIGMA_KEY, RATE_KEY, STEPS_KEY = "privacy.sigma", "privacy.rate", "privacy.steps"


class PrivacyUnavailableError(ImportError):
    """The optional accounting dependency (Opacus) is not installed."""


def opacus_installed() -> bool:
    """Whether Opacus can be imported (without importing it)."""
    return importlib.util.find_spec("opacus") is not None


def require_opacus() -> Any:
    """Return ``opacus.accountants.analysis.rdp`` (:class:`PrivacyUnavailableError` if absent)."""
    if not opacus_installed():
        raise PrivacyUnavailableError(
            "privacy accounting needs Opacus: pip install 'fedsim[privacy]' (or opacus==1.6.0)"
        )
    from opacus.accountants.analysis import rdp

    return rdp


@dataclass(frozen=True)
class GaussianSteps:
    """``steps`` releases of the Gaussian mechanism with noise ``sigma`` x sensitivity.

    Attributes
    ----------
    sigma : float
        Noise multiplier: noise std divided by the L2 sensitivity (clip norm).
    rate : float
        Sampling probability of one record per step (1.0: no amplification).
    steps : int
        Number of compositions.
    """

    sigma: float
    rate: float
    steps: int


def add_steps(history: Sequence[GaussianSteps], entry: GaussianSteps) -> list[GaussianSteps]:
    """Append ``entry``, merged into the last one when (sigma, rate) are equal."""
    out = list(history)
    if entry.steps <= 0:
        return out
    if out and out[-1].sigma == entry.sigma and out[-1].rate == entry.rate:
        out[-1] = GaussianSteps(entry.sigma, entry.rate, out[-1].steps + entry.steps)
    else:
        out.append(entry)
    return out


def rdp_curve(
    history: Sequence[GaussianSteps], orders: Sequence[float] = DEFAULT_ORDERS
) -> np.ndarray:
    """The composed RDP epsilon at each order (zeros for an empty history)."""
    total = np.zeros(len(orders))
    if not history:
        return total
    rdp = require_opacus()
    for h in history:
        total += np.asarray(
            rdp.compute_rdp(q=h.rate, noise_multiplier=h.sigma, steps=h.steps, orders=orders)
        )
    return total


def epsilon(
    history: Sequence[GaussianSteps], delta: float, orders: Sequence[float] = DEFAULT_ORDERS
) -> float:
    """The (ε, δ)-DP guarantee of the composed history (0.0 for an empty history)."""
    if not history:
        return 0.0
    if any(h.sigma <= 0 for h in history):
        return float("inf")
    rdp = require_opacus()
    eps, _ = rdp.get_privacy_spent(orders=list(orders), rdp=rdp_curve(history, orders), delta=delta)
    return float(eps)


def to_items(history: Sequence[GaussianSteps]) -> dict[str, list]:
    """The history as client-state items (three lists of equal length)."""
    return {
        SIGMA_KEY: [float(h.sigma) for h in history],
        RATE_KEY: [float(h.rate) for h in history],
        STEPS_KEY: [int(h.steps) for h in history],
    }


def from_items(items: Mapping[str, Any]) -> list[GaussianSteps]:
    """Inverse of :func:`to_items` (no keys: an empty history)."""
    sigmas = list(items.get(SIGMA_KEY, []))
    rates = list(items.get(RATE_KEY, []))
    steps = list(items.get(STEPS_KEY, []))
    if not len(sigmas) == len(rates) == len(steps):
        raise ValueError("privacy history: sigma, rate and steps lists differ in length")
    rows = zip(sigmas, rates, steps, strict=True)
    return [GaussianSteps(float(s), float(r), int(n)) for s, r, n in rows]
