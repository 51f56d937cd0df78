"""Checks of a resolved config before any work starts; each failure names its key."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.config.compatibility import check_compatibility
from fedsim.config.privacy import check_privacy, privacy_of
from fedsim.config.schema import (
    BackendConfig,
    EvalConfig,
    FederationConfig,
    LogConfig,
    OutputConfig,
    TrainConfig,
)
from fedsim.config.values import boolean, get, known_keys, number, one_of
from fedsim.device import DEVICES
from fedsim.errors import ConfigError
from fedsim.interfaces import strategy_hooks

OPTIMIZERS = ("sgd", "adam")
BACKENDS = ("simulation",)
ON_TOO_FEW = ("skip", "retry", "stop")
DEGRADED_POLICIES = ("degrade", "fail")
#: length of ``/ray/session_<date>_<time>_<us>_<pid>/sockets/plasma_store`` under RAY_TMPDIR
RAY_SOCKET_SUFFIX = 68
#: groups whose members are ``_target_`` objects (validated by building them)
OBJECT_GROUPS = ("data", "scenario", "model", "strategy", "lr", "selection", "curriculum", "faults")
#: object parameters that no target checks itself
NON_NEGATIVE_PARAMS = ("strategy.proximal_mu",)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Valid replies a round needs for Flower's Byzantine-robust strategies (f = num_malicious_nodes).
ROBUST_MIN_REPLIES = {"Bulyan": (4, 3), "Krum": (2, 3), "MultiKrum": (2, 3)}


#: (key, integer, low, strict, high, optional) of every numeric value of the fixed config parts
NUMBERS: tuple[tuple[str, bool, float | None, bool, float | None, bool], ...] = (
    ("seed", True, 0, False, None, False),
    ("num_rounds", True, 1, False, None, True),
    ("train.epochs", True, 0, True, None, False),
    ("train.batch_size", True, 0, True, None, False),
    ("train.lr", False, 0, True, None, False),
    ("train.momentum", False, 0, False, None, False),
    ("train.weight_decay", False, 0, False, None, False),
    ("federation.fraction_train", False, 0, True, 1, False),
    ("federation.min_clients", True, 0, True, None, False),
    ("federation.max_clients", True, 0, True, None, True),
    ("federation.min_replies", True, 0, True, None, False),
    ("federation.round_timeout", False, 0, True, None, True),
    ("federation.max_fraction_rejected", False, 0, False, 1, False),
    ("federation.max_fraction_skipped", False, 0, False, 1, False),
    ("eval.central_every", True, 0, True, None, False),
    ("eval.client_fraction", False, 0, False, 1, False),
    ("eval.panel_size", True, 0, True, None, True),
    ("backend.num_nodes", True, 0, True, None, True),
    ("backend.max_messages", True, 0, False, None, True),
    ("backend.client_cpus", False, 0, True, None, False),
    ("backend.client_gpus", False, 0, False, None, False),
    ("backend.ray_num_cpus", True, 0, True, None, True),
    ("backend.ray_object_store_mb", True, 75, False, None, True),
    ("backend.actor_max_restarts", True, 0, False, None, False),
    ("output.checkpoint_every", True, 0, True, None, True),
    ("log.matrix_every", True, 0, False, None, False),
)
#: fixed groups whose keys are exactly the schema's (``+train.extra=1`` is refused)
FIXED_GROUPS = {
    "train": TrainConfig,
    "federation": FederationConfig,
    "eval": EvalConfig,
    "backend": BackendConfig,
    "output": OutputConfig,
    "log": LogConfig,
}


def validate_values(cfg: Mapping[str, Any], *, engine: str = "simulation") -> None:
    """Check every scalar value of the fixed config parts (type, NaN/inf, range, choices).

    ``engine``: ``simulation`` or ``deployment`` (what ``privacy.secagg`` can run on).
    """
    for group, schema in FIXED_GROUPS.items():
        known_keys(cfg, group, schema)
    for key, integer, low, strict, high, optional in NUMBERS:
        number(cfg, key, integer=integer, low=low, strict=strict, high=high, optional=optional)
    for key in ("eval.client_boundary", "log.progress"):
        boolean(cfg, key)
    one_of(cfg["train"]["optimizer"], "train.optimizer", OPTIMIZERS)
    fed = cfg["federation"]
    one_of(fed["on_too_few"], "federation.on_too_few", ON_TOO_FEW)
    one_of(fed["degraded_policy"], "federation.degraded_policy", DEGRADED_POLICIES)
    one_of(cfg["backend"]["name"], "backend.name", BACKENDS)
    one_of(cfg["log"]["flwr_level"], "log.flwr_level", LOG_LEVELS)
    matrix = cfg["log"].get("matrix_clients", [])
    if not isinstance(matrix, list) or not all(_is_int(c) and c >= 0 for c in matrix):
        raise ConfigError("log.matrix_clients", f"must be a list of client ids, got {matrix!r}")
    sc = cfg["scenario"]
    if isinstance(sc, Mapping) and "num_clients" in sc:
        number(cfg, "scenario.num_clients", integer=True, low=1)
    _check_output(cfg)
    _check_cpus(cfg)
    _check_device(cfg)
    _check_reliability(cfg)
    _check_node_local(cfg)
    check_compatibility(cfg)  # strategy x lr/curriculum/selection/faults (compatibility.py)
    check_privacy(cfg, engine=engine)  # the privacy group (fedsim/config/privacy.py)


NODE_LOCAL_DATA = "fedsim.data.node_arrays.NodeArraysSource"
NODE_LOCAL_SCENARIO = "scenarios.node_local.node_local"


def _check_node_local(cfg: Mapping[str, Any]) -> None:
    """data=node_local (examples only on the nodes) plans with scenario=node_local only."""
    if cfg["data"].get("_target_") == NODE_LOCAL_DATA:
        if cfg["scenario"].get("_target_") != NODE_LOCAL_SCENARIO:
            raise ConfigError(
                "data",
                "data=node_local (each node holds its own examples) needs scenario=node_local, "
                f"got scenario={cfg['scenario'].get('name', '?')}",
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_output(cfg: Mapping[str, Any]) -> None:
    out = cfg["output"]
    for key in ("root", "name"):
        if not isinstance(out[key], str) or not out[key].strip():
            raise ConfigError(f"output.{key}", f"must be a non-empty path, got {out[key]!r}")


def _check_device(cfg: Mapping[str, Any], cuda_available: bool | None = None) -> None:
    """``train.device``: a known name; ``cuda`` only where this machine has CUDA.

    With ``backend.ray_address`` (an existing cluster) the workers' GPUs are not visible
    from here, so ``cuda`` is checked by each client instead.
    """
    name = cfg["train"].get("device", "auto")
    one_of(name, "train.device", DEVICES)
    if name != "cuda" or cfg["backend"].get("ray_address"):
        return
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        raise ConfigError(
            "train.device",
            "cuda requested but CUDA is not available on this machine (CPU torch wheel or no "
            "GPU; see README 'GPU install'); use train.device=auto or cpu",
        )


def _check_cpus(cfg: Mapping[str, Any]) -> None:
    """A fresh local Ray must have room for one client actor."""
    be = cfg["backend"]
    if be.get("ray_address"):
        return
    tmp = os.environ.get("RAY_TMPDIR", "/tmp")
    if len(os.fsencode(tmp)) + RAY_SOCKET_SUFFIX > 107:  # AF_UNIX paths: 107 bytes
        raise ConfigError(
            "RAY_TMPDIR",
            f"a local Ray cannot start: '{tmp}' is too long for its socket paths "
            f"(at most {107 - RAY_SOCKET_SUFFIX} characters)",
        )
    cpus = be.get("ray_num_cpus") or os.cpu_count() or 1
    if float(be["client_cpus"]) > cpus:
        raise ConfigError(
            "backend.client_cpus",
            f"{be['client_cpus']} CPUs per client, but the local Ray has {cpus} "
            "(backend.ray_num_cpus); no client actor would fit",
        )


def _check_reliability(cfg: Mapping[str, Any]) -> None:
    """Fault, deadline and robust-aggregation settings that cannot work together."""
    fed = cfg["federation"]
    if fed.get("max_clients") is not None and fed["max_clients"] < fed["min_clients"]:
        raise ConfigError(
            "federation.max_clients",
            f"must be >= federation.min_clients ({fed['min_clients']}), got {fed['max_clients']}",
        )
    sc = cfg["scenario"]
    clients = int(sc["num_clients"]) if isinstance(sc, Mapping) and "num_clients" in sc else None
    if clients is not None and fed["min_clients"] > clients:
        raise ConfigError(
            "federation.min_clients",
            f"must be <= scenario.num_clients ({clients}), got {fed['min_clients']}",
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
    from fedsim.config.paths import check_writable as check

    check(root, key)


def validate_objects(cfg: Mapping[str, Any]) -> None:
    """Build what the run needs (data, plan, model, strategy, LR controller) once, up front."""
    from fedsim.experiment import get_experiment
    from fedsim.server.app import (
        build_faults,
        build_lr_controller,
        build_selection,
        build_strategy,
        curriculum_items,
    )

    for group in OBJECT_GROUPS:
        _finite_numbers(cfg.get(group), group)
    for key in NON_NEGATIVE_PARAMS:
        if get(cfg, key) is not None:
            number(cfg, key, low=0)
    exp = get_experiment(cfg)
    try:
        exp.plan.build_all()
    except (ValueError, IndexError, TypeError) as exc:
        raise ConfigError("scenario", f"a client stream could not be built: {exc}") from None
    model = exp.make_model()
    if privacy_of(cfg).get("mode") == "dp_sgd":
        from fedsim.client.plugins.dp_sgd import refuse_batch_norm

        try:
            refuse_batch_norm(model)
        except ValueError as exc:
            raise ConfigError("model", str(exc)) from None
    for cid in cfg.get("log", {}).get("matrix_clients", ()):
        if not 0 <= int(cid) < exp.plan.num_clients:
            raise ConfigError(
                "log.matrix_clients",
                f"client {cid} does not exist (clients are 0..{exp.plan.num_clients - 1})",
            )
    strategy_hooks(build_strategy(cfg["strategy"])).check_experiment(exp)
    build_lr_controller(cfg, model)
    build_selection(cfg, exp)
    curriculum_items(cfg)

    build_faults(cfg, exp.seed, exp.plan.num_clients)
    from fedsim.client.learners import get_learner
    from fedsim.client.plugins.registered import load_plugin_factory

    get_learner(str(cfg["strategy"].get("client_learner", "weights")))
    plugins = cfg["strategy"].get("plugins") or []
    if not isinstance(plugins, list):
        raise ConfigError("strategy.plugins", f"must be a list of names, got {plugins!r}")
    for name in plugins:
        load_plugin_factory(str(name))


def _finite_numbers(node: Any, key: str) -> None:
    """Every float inside an object group's spec must be finite (``lr.gamma=nan``)."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            _finite_numbers(value, f"{key}.{name}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _finite_numbers(value, f"{key}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(key, f"must be a finite number, got {node}")


def validate(cfg: Mapping[str, Any], *, engine: str = "simulation") -> None:
    """Everything that can be checked before the run starts (on ``engine``)."""
    validate_values(cfg, engine=engine)
    validate_objects(cfg)
