"""Checks of ``privacy.secagg`` (SecAgg+, docs/privacy.md): its knobs, engine and combinations.

What needs individual updates is refused in one line naming the key:

* the simulation engine: there virtual clients share Flower nodes and a client's state travels
  in the messages (DESIGN.md rule 4), and ``secaggplus_mod`` keeps its per-round keys and shares
  in the node's ``context.state``: a node serving several clients of one round would mix them,
  and a client served by another node the next stage would have lost them;
* strategies whose server reads each reply (the ``secure_sum`` rule of
  :mod:`fedsim.config.compatibility`, checked with the other strategy x option pairs);
* ``privacy.mode=central``: its server clips each client's update, which the server never sees;
* injected faults (``faults`` other than none): they act on single replies and round trips
  outside the protocol;
* fewer than 2 clients: the sum of one update is that update;
* ``federation.on_too_few=retry``: the retry's cohort would need a second protocol run.

DP-SGD and local DP run on the clients before the update is masked (distributed DP) and stay
allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedsim.config.values import boolean, number
from fedsim.errors import ConfigError

ENGINES = ("simulation", "deployment")
PARAMS = ("num_shares", "reconstruction_threshold", "clipping_range", "quantization_range",
          "max_weight")  # fmt: skip
MODULUS_RANGE = 2**32  # Flower's default, kept: masks are uint32 arithmetic
NO_FAULTS = "fedsim.faults.models.NoFaults"
SIMULATION_REASON = (
    "SecAgg+ runs on the deployment engine only (fedsim deploy): secaggplus_mod keeps each "
    "client's keys and shares in its node's context.state across the protocol's four stages, "
    "and in fedsim's simulation virtual clients share Flower nodes and their state travels in "
    "the messages"
)


def check_secagg(cfg: Mapping[str, Any], spec: Mapping[str, Any], engine: str) -> None:
    """Refuse a bad or unsupported ``privacy.secagg`` setting in one line naming the key."""
    boolean({"privacy": spec}, "privacy.secagg")
    params = spec.get("secagg_params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError("privacy.secagg_params", f"must be a mapping, got {params!r}")
    for key in params:
        if key not in PARAMS:
            raise ConfigError(
                f"privacy.secagg_params.{key}", f"unknown key; known: {', '.join(PARAMS)}"
            )
    _check_params(params)
    if not spec["secagg"]:
        return
    if engine != "deployment":
        raise ConfigError("privacy.secagg", SIMULATION_REASON)
    if spec.get("mode") == "central":
        raise ConfigError(
            "privacy.secagg",
            f"privacy={spec.get('name', 'central')} cannot run with privacy.secagg=true: "
            "central DP clips each client's update on the server, and under SecAgg+ the "
            "server only sees their sum (use dp_sgd or local_dp: distributed DP)",
        )
    faults = cfg.get("faults") or {}
    if faults.get("_target_", NO_FAULTS) != NO_FAULTS:
        raise ConfigError(
            "privacy.secagg",
            f"faults={faults.get('name', '?')} cannot run with privacy.secagg=true: injected "
            "faults act on single replies and round trips outside the SecAgg+ protocol",
        )
    if (cfg.get("federation") or {}).get("on_too_few") == "retry":
        raise ConfigError(
            "federation.on_too_few",
            "retry cannot run with privacy.secagg=true: a second cohort would be a second "
            "SecAgg+ protocol, whose mean cannot be merged with the first; use skip or stop",
        )
    clients = (cfg.get("scenario") or {}).get("num_clients")
    if isinstance(clients, int) and clients < 2:
        raise ConfigError(
            "privacy.secagg",
            f"SecAgg+ needs at least 2 clients in a round, and scenario.num_clients={clients}",
        )


def _check_params(params: Mapping[str, Any]) -> None:
    """Flower's own checks of the workflow's arguments, as one-line errors naming the key."""
    cfg = {"privacy": {"secagg_params": dict(params)}}
    key = "privacy.secagg_params."
    shares = params.get("num_shares", 3)
    thr = params.get("reconstruction_threshold", 2)
    for name, value in (("num_shares", shares), ("reconstruction_threshold", thr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key + name, f"must be an int or a float in (0, 1], got {value!r}")
        if isinstance(value, float) and not 0 < value <= 1:
            raise ConfigError(key + name, f"a float must be in (0, 1], got {value}")
    if isinstance(shares, int) and shares <= 2:
        raise ConfigError(key + "num_shares", f"an int must be > 2, got {shares}")
    if isinstance(thr, int) and thr < 2:
        raise ConfigError(key + "reconstruction_threshold", f"an int must be >= 2, got {thr}")
    if isinstance(thr, int) and isinstance(shares, int) and thr >= shares:
        raise ConfigError(
            key + "reconstruction_threshold",
            f"must be < num_shares ({shares}), got {thr}",
        )
    for name in ("clipping_range", "max_weight"):
        if name in params:
            number(cfg, key + name, low=0, strict=True)
    if "quantization_range" in params:
        number(cfg, key + "quantization_range", integer=True, low=1)
        if int(params["quantization_range"]) >= MODULUS_RANGE:
            raise ConfigError(
                key + "quantization_range",
                f"must be < the modulus range 2**32, got {params['quantization_range']}",
            )
