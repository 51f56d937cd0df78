"""Structured-config dataclasses registered in Hydra's ConfigStore (DESIGN.md rule 8).

Groups whose members are objects (``data``, ``scenario``, ``model``, ``strategy``, ``lr``) are
``_target_`` mappings composed from ``configs/<group>/*.yaml``; the fixed parts are typed here,
so Hydra rejects a wrong type (``train.lr=abc``) and an unknown key (``train.foo=1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass
class TrainConfig:
    """Local training of every client."""

    epochs: int = 10
    batch_size: int = 8
    lr: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    device: str = "auto"  # auto (the GPU Ray assigned, else cpu) | cpu | cuda


@dataclass
class FederationConfig:
    """Which clients train each round and what a round needs to count."""

    fraction_train: float = 1.0
    min_clients: int = 1
    max_clients: int | None = None
    min_replies: int = 1
    on_too_few: str = "skip"  # skip | retry | stop
    round_timeout: float | None = None
    # when is a run that ended not "completed" (fedsim/server/health.py, README "Exit codes")
    degraded_policy: str = "degrade"  # degrade (exit 3) | fail (exit 1)
    max_fraction_rejected: float = 0.05  # unexpected rejected replies / replies asked for
    max_fraction_skipped: float = 0.0  # rounds skipped without an injected cause / rounds


@dataclass
class EvalConfig:
    """Central evaluation frequency and the client (local) view."""

    central_every: int = 1
    client_boundary: bool = True
    client_fraction: float = 0.0
    panel_size: int | None = None


@dataclass
class BackendConfig:
    """Where clients run: Flower's simulation engine on Ray (local or an existing cluster)."""

    name: str = "simulation"
    num_nodes: int | None = None
    max_messages: int | None = None
    client_cpus: float = 1.0
    client_gpus: float = 0.0
    ray_address: str | None = None
    ray_num_cpus: int | None = None
    ray_object_store_mb: int | None = 2048
    actor_max_restarts: int = 3  # Ray restarts of a dead ClientAppActor (then: degraded run)


@dataclass
class OutputConfig:
    """Where the run directory goes."""

    root: str = "runs"
    name: str = "${scenario.name}-${strategy.name}"
    checkpoint_every: int = 1


@dataclass
class LogConfig:
    """Console output and TensorBoard extras."""

    progress: bool = True
    flwr_level: str = "ERROR"
    matrix_clients: list[int] = field(default_factory=lambda: [0])  # per-client heatmaps
    matrix_every: int = 1  # heatmaps on task-boundary rounds divisible by this (0: final only)


@dataclass
class FedsimConfig:
    """The whole experiment."""

    seed: int = 0
    num_rounds: int | None = None
    data: Any = MISSING
    scenario: Any = MISSING
    model: Any = MISSING
    strategy: Any = MISSING
    lr: Any = MISSING
    selection: Any = MISSING
    curriculum: Any = MISSING
    faults: Any = MISSING
    privacy: Any = MISSING
    train: TrainConfig = field(default_factory=TrainConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    log: LogConfig = field(default_factory=LogConfig)


def register() -> None:
    """Register the schema as ``fedsim_schema`` in Hydra's ConfigStore."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="fedsim_schema", node=FedsimConfig)
