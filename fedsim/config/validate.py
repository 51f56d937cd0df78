"""Checks of a resolved config before any work starts; each failure names its key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.config.compatibility import check_compatibility
from fedsim.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
BACKENDS = ("simulation",)
ON_TOO_FEW = ("skip", "retry", "stop")
#: Valid replies a round needs for Flower's Byzantine-robust strategies (f = num_malicious_nodes).
ROBUST_MIN_REPLIES = {"Bulyan": (4, 3), "Krum": (2, 3), "MultiKrum": (2, 3)}


def _positive(cfg: Mapping[str, Any], group: str, key: str, strict: bool = True) -> None:
    value = cfg[group][key]
    bad = value is None or (value <= 0 if strict else value < 0)
    if bad:
        rel = "> 0" if strict else ">= 0"
        raise ConfigError(f"{group}.{key}", f"must be {rel}, got {value}")


def _fraction(value: Any, key: str, allow_zero: bool) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if value is None or not (low_ok and value <= 1):
        rng = "[0, 1]" if allow_zero else "(0, 1]"
        raise ConfigError(key, f"must be in {rng}, got {value}")


def _one_of(value: Any, key: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(key, f"unknown value '{value}', allowed: {', '.join(allowed)}")


def validate_values(cfg: Mapping[str, Any]) -> None:
    """Check scalar values of the fixed config parts."""
    for key in ("lr", "epochs", "batch_size"):
        _positive(cfg, "train", key)
    for key in ("momentum", "weight_decay"):
        _positive(cfg, "train", key, strict=False)
    _one_of(cfg["train"]["optimizer"], "train.optimizer", OPTIMIZERS)
    fed = cfg["federation"]
    _fraction(fed["fraction_train"], "federation.fraction_train", allow_zero=False)
    for key in ("min_clients", "min_replies"):
        _positive(cfg, "federation", key)
    _one_of(fed["on_too_few"], "federation.on_too_few", ON_TOO_FEW)
    if fed.get("round_timeout") is not None:
        _positive(cfg, "federation", "round_timeout")
    _positive(cfg, "eval", "central_every")
    if cfg["eval"].get("panel_size") is not None:
        _positive(cfg, "eval", "panel_size")
    if cfg["output"].get("checkpoint_every") is not None:
        _positive(cfg, "output", "checkpoint_every")
    _fraction(cfg["eval"]["client_fraction"], "eval.client_fraction", allow_zero=True)
    be = cfg["backend"]
    _one_of(be["name"], "backend.name", BACKENDS)
    _positive(cfg, "backend", "client_cpus")
    _positive(cfg, "backend", "client_gpus", strict=False)
    if be.get("max_messages") is not None:
        _positive(cfg, "backend", "max_messages", strict=False)
    if be.get("num_nodes") is not None:
        _positive(cfg, "backend", "num_nodes")
    store = be.get("ray_object_store_mb")
    if store is not None and int(store) < 75:
        raise ConfigError(
            "backend.ray_object_store_mb", f"must be >= 75 (Ray's minimum), got {store}"
        )
    if cfg.get("num_rounds") is not None and cfg["num_rounds"] < 1:
        raise ConfigError("num_rounds", f"must be >= 1 or null, got {cfg['num_rounds']}")
    log = cfg.get("log", {})
    if int(log.get("matrix_every", 1)) < 0:
        raise ConfigError("log.matrix_every", f"must be >= 0, got {log['matrix_every']}")
    sc = cfg["scenario"]
    if isinstance(sc, Mapping) and "num_clients" in sc and int(sc["num_clients"]) < 1:
        raise ConfigError("scenario.num_clients", f"must be >= 1, got {sc['num_clients']}")
    _check_reliability(cfg)
    check_compatibility(cfg)  # strategy x lr/curriculum/selection/faults (compatibility.py)


def _check_reliability(cfg: Mapping[str, Any]) -> None:
    """Fault, deadline and robust-aggregation settings that cannot work together."""
    fed = cfg["federation"]
    if fed.get("max_clients") is not None and fed["max_clients"] < fed["min_clients"]:
        raise ConfigError(
            "federation.max_clients",
            f"must be >= federation.min_clients ({fed['min_clients']}), got {fed['max_clients']}",
        )
    cap = _max_cohort(cfg)
    if cap is not None and fed["min_replies"] > cap:
        raise ConfigError(
            "federation.min_replies",
            f"must be <= the largest possible cohort ({cap} clients), got {fed['min_replies']}",
        )
    target = str(cfg["strategy"].get("_target_", "")).rsplit(".", 1)[-1]
    if target in ROBUST_MIN_REPLIES and cap is not None:
        a, b = ROBUST_MIN_REPLIES[target]
        f = int(cfg["strategy"].get("num_malicious_nodes", 0))
        if cap < a * f + b:
            raise ConfigError(
                "strategy.num_malicious_nodes",
                f"{target} with f={f} needs at least {a}f+{b}={a * f + b} replies per round, "
                f"but a cohort has at most {cap} clients",
            )


def _max_cohort(cfg: Mapping[str, Any]) -> int | None:
    sc = cfg["scenario"]
    if not isinstance(sc, Mapping) or "num_clients" not in sc:
        return None
    cap = int(sc["num_clients"])
    if cfg["federation"].get("max_clients") is not None:
        cap = min(cap, int(cfg["federation"]["max_clients"]))
    return cap


def check_writable(root: str | Path, key: str = "output.root") -> None:
    """Fail unless ``root`` exists as a writable directory or can be created."""
    path = Path(root).expanduser()
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(key, f"directory '{path}' is not writable")


def validate_objects(cfg: Mapping[str, Any]) -> None:
    """Build what the run needs (data, plan, model, strategy, LR controller) once, up front."""
    from fedsim.build import build
    from fedsim.experiment import get_experiment
    from fedsim.server import build_lr_controller, build_strategy

    exp = get_experiment(cfg)
    try:
        exp.plan.build_all()
    except (ValueError, IndexError, TypeError) as exc:
        raise ConfigError("scenario", f"a client stream could not be built: {exc}") from None
    model = exp.make_model()
    for cid in cfg.get("log", {}).get("matrix_clients", ()):
        if not 0 <= int(cid) < exp.plan.num_clients:
            raise ConfigError(
                "log.matrix_clients",
                f"client {cid} does not exist (clients are 0..{exp.plan.num_clients - 1})",
            )
    build_strategy(cfg["strategy"])
    build_lr_controller(cfg, model)
    fed = cfg["federation"]
    build(
        cfg["selection"],
        "selection",
        fraction=float(fed["fraction_train"]),
        min_clients=int(fed["min_clients"]),
        max_clients=fed.get("max_clients"),
        seed=int(cfg["seed"]),
    )
    from fedsim.server import build_faults

    build_faults(cfg, exp.seed, exp.plan.num_clients)
    learner = cfg["strategy"].get("client_learner", "weights")
    from fedsim.learners import _REGISTRY

    if learner not in _REGISTRY:
        raise ConfigError(
            "strategy.client_learner",
            f"unknown learner '{learner}', allowed: {', '.join(sorted(_REGISTRY))}",
        )


def validate(cfg: Mapping[str, Any]) -> None:
    """Everything that can be checked before the run starts."""
    validate_values(cfg)
    validate_objects(cfg)
