"""The experiment config of a deployment run, composed with Hydra from Flower's run config.

``flwr run --run-config "experiment='quick' overrides='scenario.num_clients=2 seed=3'"`` reaches
the ServerApp as ``context.run_config``; the ServerApp (driver side) composes the resolved config
from it, exactly as ``fedsim +experiment=quick scenario.num_clients=2 seed=3`` would, and sends
it to the SuperNodes (:mod:`fedsim.deployment.node_config`), which never compose.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.errors import ConfigError

# Keys of [tool.flwr.app.config] in pyproject.toml
EXPERIMENT = "experiment"
OVERRIDES = "overrides"
OUTPUT_ROOT = "output-root"
RUN_DIR = "run-dir"
NODE_TIMEOUT = "node-timeout"
DEFAULT_NODE_TIMEOUT_S = 300.0


def hydra_overrides(run_config: Mapping[str, Any]) -> list[str]:
    """The Hydra overrides a run config stands for."""
    text = str(run_config.get(OVERRIDES, "") or "")
    try:
        overrides = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"run-config {OVERRIDES}", f"cannot split '{text}': {exc}") from None
    experiment = str(run_config.get(EXPERIMENT, "") or "").strip()
    if experiment:
        overrides.insert(0, f"+experiment={experiment}")
    root = str(run_config.get(OUTPUT_ROOT, "") or "").strip()
    if root:
        overrides.append(f"output.root={root}")
    return overrides


def compose_run_config(run_config: Mapping[str, Any]) -> dict[str, Any]:
    """Compose and resolve the experiment config of a run config (not yet validated)."""
    from omegaconf import OmegaConf

    from fedsim.config.compose import compose_config, hydra_message
    from fedsim.config.targets import drop_inherited_keys

    overrides = hydra_overrides(run_config)
    try:
        cfg = compose_config(overrides)
        return drop_inherited_keys(OmegaConf.to_container(cfg, resolve=True), overrides)
    except Exception as exc:  # noqa: BLE001 - Hydra raises several types
        raise ConfigError(f"run-config {OVERRIDES}", hydra_message(exc)) from None


def run_dir_for(cfg: Mapping[str, Any], run_config: Mapping[str, Any], run_id: int) -> Path:
    """The absolute run directory of a deployment run.

    ``run-dir`` from the run config if given, else ``<output.root>/<output.name>/<time>-run<id>``;
    a relative path is taken from the SuperLink's working directory (the ServerApp's cwd).
    """
    explicit = str(run_config.get(RUN_DIR, "") or "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    out = cfg["output"]
    return (
        Path(str(out["root"])).expanduser() / str(out["name"]) / f"{stamp}-run{run_id}"
    ).resolve()


def node_timeout(run_config: Mapping[str, Any]) -> float:
    """Seconds the ServerApp waits for every client's SuperNode to connect."""
    value = run_config.get(NODE_TIMEOUT, DEFAULT_NODE_TIMEOUT_S)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"run-config {NODE_TIMEOUT}", f"must be a number, got {value!r}"
        ) from None
    if seconds <= 0:
        raise ConfigError(f"run-config {NODE_TIMEOUT}", f"must be > 0, got {seconds}")
    return seconds
