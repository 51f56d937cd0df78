"""Fixtures for in-process adapter tests: a small composed config and its experiment."""

from __future__ import annotations

import pytest

from tests.conftest import compose

FAST = [
    "scenario.num_clients=4",
    "scenario.max_arrival_delay=0",
    "strategy.backbone.epochs=3",
    "train.epochs=2",
    "log.progress=false",
]


@pytest.fixture(autouse=True)
def _flower_identity():
    """Messages outside a Flower run need a task identity."""
    from flwr.supercore.task_identity import TaskIdentity

    old = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = old


def adapter_cfg(strategy: str, *extra: str) -> dict:
    """Compose a small config for ``strategy``."""
    return compose(f"strategy={strategy}", *FAST, *extra)
