"""Local DP on a client's reply: clip its update, add Gaussian noise before it leaves.

The maths of Flower's ``LocalDpMod`` (``flwr.clientapp.mod``): the update ``w_k - w`` is
clipped to L2 norm C (FlatClip) and every coordinate of ``w + clip(w_k - w)`` gets
N(0, s^2) noise with ``s = Δ sqrt(2 ln(1.25/δ)) / ε`` (Dwork & Roth 2014, Thm. A.1: one
release is (ε, δ)-DP for ε < 1). fedsim applies it per virtual client inside the ClientApp's
train handler rather than as a Flower mod: a mod sees a whole message, which may pack several
clients and carries the client's state records beside the model (``LocalDpMod`` refuses a
message with more than one ArrayRecord), and its noise comes from numpy's global RNG; here it
comes from a generator of (run seed, round, client). A test checks this function against
``LocalDpMod`` on the same arrays and noise stream.

Accounting: each release is the Gaussian mechanism with noise multiplier ``s / Δ``; the
client's history (:mod:`fedsim.privacy.accountant`, rate 1: no amplification) composes them
over its rounds and tasks (RDP); without Opacus the reported ε is the basic composition
``k ε``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord

from fedsim import wire
from fedsim.privacy import accountant
from fedsim.privacy.gaussian import add_noise, clip_update, local_dp_std

RELEASES_KEY = "privacy.local-releases"  # client-state item: local releases so far


def local_dp_arrays(
    sent: ArrayRecord,
    trained: ArrayRecord,
    *,
    clip: float,
    std: float,
    rng: np.random.Generator,
) -> tuple[ArrayRecord, bool]:
    """``sent + clip(trained - sent)`` plus N(0, std^2) noise, key order of ``trained``."""
    keys = list(trained.keys())
    clipped, was = clip_update([trained[k].numpy() for k in keys],
                               [sent[k].numpy() for k in keys], clip)  # fmt: skip
    noisy = add_noise(clipped, std, rng)
    return ArrayRecord({k: Array(np.asarray(v)) for k, v in zip(keys, noisy, strict=True)}), was


def local_dp_reply(
    config: Mapping[str, Any],
    sent: ArrayRecord,
    trained: ArrayRecord,
    client_state: Mapping[str, Any],
    rng: np.random.Generator,
) -> tuple[ArrayRecord, dict[str, float], dict[str, Any]]:
    """Privatise one reply; return (arrays, reply metrics, client-state items)."""
    clip = float(config[wire.LOCAL_DP_CLIP])
    sens = float(config[wire.LOCAL_DP_SENSITIVITY])
    eps1 = float(config[wire.LOCAL_DP_EPSILON])
    delta = float(config[wire.PRIVACY_DELTA])
    std = local_dp_std(sens, eps1, delta)
    arrays, was = local_dp_arrays(sent, trained, clip=clip, std=std, rng=rng)
    history = accountant.add_steps(
        accountant.from_items(client_state), accountant.GaussianSteps(std / sens, 1.0, 1)
    )
    releases = int(client_state.get(RELEASES_KEY, 0)) + 1
    if accountant.opacus_installed():
        eps = accountant.epsilon(history, delta)
    else:
        eps = releases * eps1
    items = {**accountant.to_items(history), RELEASES_KEY: releases}
    return arrays, {wire.PRIVACY_EPSILON: eps, wire.PRIVACY_CLIPPED: float(was)}, items
