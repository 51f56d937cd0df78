"""Shared fixtures: offline environment, isolated Flower/Ray homes, config composition."""

from __future__ import annotations

import copy
import functools
import os
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="fedsim-tests-"))
for _key, _value in {
    "FLWR_HOME": str(_HOME / "flwr"),
    "RAY_TMPDIR": str(_HOME / "ray"),
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "MPLCONFIGDIR": str(_HOME / "mpl"),
    "MPLBACKEND": "Agg",
}.items():
    os.environ.setdefault(_key, _value)

REPO = Path(__file__).resolve().parents[1]

# A small, fast federation used by the integration tests.
SMALL = [
    "scenario.num_clients=4",
    "scenario.num_tasks=2",
    "scenario.rounds_per_task=1",
    "scenario.max_arrival_delay=1",
    "train.epochs=2",
    "log.progress=false",
]


def cli_env() -> dict:
    """Environment for `python -m fedsim` subprocesses: import *this* checkout's packages."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def compose(*overrides: str) -> dict:
    """Compose the real Hydra config with overrides; return the resolved container.

    Each distinct override list is composed once per session (Hydra composition costs about
    0.1 s); callers get their own deep copy, so mutating it cannot leak into another test.
    """
    return copy.deepcopy(_composed(tuple(overrides)))


@functools.cache
def _composed(overrides: tuple[str, ...]) -> dict:
    from omegaconf import OmegaConf

    from fedsim.config.compose import compose_config

    return OmegaConf.to_container(compose_config(list(overrides)), resolve=True)


@pytest.fixture
def small_cfg(tmp_path) -> dict:
    return compose(*SMALL, f"output.root={tmp_path}")


def pytest_collection_modifyitems(config, items):
    """Whole runs first: on 2 workers (``-n 2``) the long Ray/SuperLink tests start at once
    and the many short ones fill the gaps at the end (the order of tests within a tier is kept)."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)
