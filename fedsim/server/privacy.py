"""The server's side of the ``privacy`` group: round-config items, the central-DP wrapper, ε.

* :func:`privacy_items` puts the client-side modes' settings in every train ConfigRecord
  (DP-SGD, local DP, prototype noise; :mod:`fedsim.wire`).
* :func:`wrap_strategy` wraps the strategy in :class:`strategies.central_dp.CentralDP` for
  ``mode: central``.
* :func:`round_privacy` reads a round's replies (each client's ε so far, its clipped share)
  and the wrapper's scalars into the round record; :func:`client_epsilons` folds the per-client
  ε over the history (a client keeps its last ε in rounds it sits out), so the reported
  ``epsilon/max`` and ``epsilon/mean`` are over every client that has trained.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from flwr.app import Message
from flwr.serverapp.strategy import Strategy

from fedsim import wire
from fedsim.interfaces import PrivacySource
from fedsim.privacy.gaussian import local_dp_std
from fedsim.server.round_record import RoundRecord
from fedsim.server.secagg import NORMS_SKIPPED
from strategies.central_dp import CentralDP


def _spec(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    return cfg.get("privacy") or {"mode": "none"}


def privacy_items(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The flat round-config items of the client-side privacy modes (empty otherwise)."""
    spec = _spec(cfg)
    mode = spec.get("mode", "none")
    secagg = {}
    if spec.get("secagg", False):  # the reply metric the client weights its update by
        key = (cfg.get("strategy") or {}).get("weighted_by_key", wire.NUM_EXAMPLES)
        secagg = {wire.SECAGG_WEIGHT_KEY: str(key)}
    return {**secagg, **_mode_items(spec, mode)}


def _mode_items(spec: Mapping[str, Any], mode: str) -> dict[str, Any]:
    if mode == "dp_sgd":
        return {
            wire.DP_SGD_SIGMA: float(spec["noise_multiplier"]),
            wire.DP_SGD_CLIP: float(spec["clip_norm"]),
            wire.PRIVACY_DELTA: float(spec["delta"]),
        }
    if mode == "local":
        return {
            wire.LOCAL_DP_CLIP: float(spec["clip_norm"]),
            wire.LOCAL_DP_SENSITIVITY: float(spec["sensitivity"]),
            wire.LOCAL_DP_EPSILON: float(spec["epsilon"]),
            wire.PRIVACY_DELTA: float(spec["delta"]),
        }
    if mode == "prototypes":
        return {
            wire.PROTO_NOISE_SIGMA: float(spec["noise_multiplier"]),
            wire.PROTO_NOISE_CLIP: float(spec["clip_norm"]),
            wire.PRIVACY_DELTA: float(spec["delta"]),
        }
    return {}


def wrap_strategy(
    strategy: Strategy, cfg: Mapping[str, Any], *, num_clients: int, seed: int
) -> Strategy:
    """``strategy`` wrapped in central DP for ``privacy.mode: central``, else itself."""
    spec = _spec(cfg)
    if spec.get("mode") != "central":
        return strategy
    fed = cfg["federation"]
    expected = max(int(fed["min_clients"]), round(float(fed["fraction_train"]) * num_clients))
    count_std = spec.get("count_std")
    return CentralDP(
        strategy,
        noise_multiplier=float(spec["noise_multiplier"]),
        clip_norm=float(spec["clip_norm"]),
        population=num_clients,
        delta=float(spec["delta"]),
        adaptive=bool(spec.get("adaptive", False)),
        target_quantile=float(spec.get("target_quantile", 0.5)),
        clip_lr=float(spec.get("clip_lr", 0.2)),
        count_std=None if count_std is None else float(count_std),
        expected_clients=float(expected),
        uniform_weights=bool(spec.get("uniform_weights", True)),
        amplification=bool(spec.get("amplification", False)),
        seed=seed,
    )


def static_scalars(cfg: Mapping[str, Any]) -> dict[str, float]:
    """C and z of the client-side modes (the central wrapper reports its own)."""
    spec = _spec(cfg)
    mode = spec.get("mode", "none")
    if mode in ("dp_sgd", "prototypes"):
        return {
            "clip_norm": float(spec["clip_norm"]),
            "noise_multiplier": float(spec["noise_multiplier"]),
        }
    if mode == "local":
        std = local_dp_std(float(spec["sensitivity"]), float(spec["epsilon"]), float(spec["delta"]))
        z = std / float(spec["sensitivity"])
        return {"clip_norm": float(spec["clip_norm"]), "noise_multiplier": z}
    return {}


def round_privacy(
    good: Sequence[tuple[int, Message]],
    strategy: Strategy,
    history: Iterable[RoundRecord],
    static: Mapping[str, float],
) -> tuple[dict[str, float], dict[int, float]]:
    """(scalars, ε by client of this round) for the round record; ({}, {}) without privacy.

    ``epsilon`` is the largest ε over every client that has trained so far (the central
    wrapper's client-level ε in central mode), ``epsilon_mean`` their mean.
    """
    mine: dict[int, float] = {}
    clipped: list[float] = []
    for cid, reply in good:
        metrics = reply.content[wire.METRICS]
        if wire.PRIVACY_EPSILON in metrics:
            mine[int(cid)] = float(metrics[wire.PRIVACY_EPSILON])
        if wire.PRIVACY_CLIPPED in metrics:
            clipped.append(float(metrics[wire.PRIVACY_CLIPPED]))
    scalars: dict[str, float] = dict(static)
    if isinstance(strategy, PrivacySource):
        scalars.update(strategy.privacy_scalars())
    if clipped:
        scalars["clipped_fraction"] = float(np.mean(clipped))
    if mine:
        eps = client_epsilons(history)
        eps.update(mine)
        values = np.asarray(list(eps.values()))
        scalars["epsilon"] = float(values.max())
        scalars["epsilon_mean"] = float(values.mean())
    return scalars, mine


def client_epsilons(history: Iterable[RoundRecord]) -> dict[int, float]:
    """Each client's last reported ε over the rounds of ``history``."""
    out: dict[int, float] = {}
    for record in history:
        if record.result is not None:
            out.update(record.result.client_epsilon)
    return out


def privacy_summary(cfg: Mapping[str, Any], history: Sequence[RoundRecord]) -> dict[str, Any]:
    """``summary.json``'s ``privacy`` block: mode, δ, final ε (max, mean, by client), C, z."""
    spec = _spec(cfg)
    last: dict[str, float] = {}
    for record in history:
        if record.result is not None and record.result.privacy:
            last = dict(record.result.privacy)
    eps = client_epsilons(history)
    out: dict[str, Any] = {
        "mode": str(spec.get("mode", "none")),
        "name": str(spec.get("name", "")),
        "delta": float(spec["delta"]) if "delta" in spec else None,
        "epsilon": last.get("epsilon"),
        "epsilon_mean": float(np.mean(list(eps.values()))) if eps else None,
        "client_epsilon": {str(c): e for c, e in sorted(eps.items())},
    }
    for key in ("clip_norm", "noise_multiplier", "clipped_fraction"):
        out[key] = last.get(key)
    if spec.get("secagg", False):
        out["secagg"] = secagg_summary(spec, history)
    return out


def secagg_summary(spec: Mapping[str, Any], history: Sequence[RoundRecord]) -> dict[str, Any]:
    """``summary.json``'s ``privacy.secagg`` block: rounds securely aggregated, the knobs."""
    rounds = [
        r.round for r in history if r.result is not None and r.result.privacy.get("secagg")
    ]
    return {
        "rounds": rounds,
        "params": dict(spec.get("secagg_params") or {}),
        "update_norms": NORMS_SKIPPED,
    }
