"""Node discovery hands every SuperNode the ServerApp's resolved config (no Ray, no SuperLink)."""

from __future__ import annotations

import pytest
from flwr.app import Context, RecordDict

from fedsim.deployment.apps import client_app
from fedsim.deployment.discovery import NodeDiscoveryError, discover_clients
from fedsim.deployment.node_config import MissingExperimentConfigError, client_config


class NodesGrid:
    """Duck-typed Grid: each node runs the real deployment ClientApp on its own Context."""

    def __init__(self, partitions: dict[int, int]) -> None:
        self.nodes = {
            node: Context(
                run_id=1,
                node_id=node,
                node_config={"partition-id": pid},
                state=RecordDict(),
                run_config={},
            )
            for node, pid in partitions.items()
        }
        self.sent = 0

    def get_node_ids(self):
        return list(self.nodes)

    def send_and_receive(self, messages, timeout=None):
        self.sent += len(messages)
        return [client_app(m, self.nodes[m.metadata.dst_node_id]) for m in messages]


@pytest.fixture
def task_identity(monkeypatch):
    """What Flower sets in a ServerApp process (Message() needs it)."""
    from flwr.supercore.task_identity import TaskIdentity

    for attr, value in (("_run_id", 1), ("_node_id", 0), ("_task_id", 1)):
        monkeypatch.setattr(TaskIdentity, attr, value)


def test_discovery_query_leaves_the_resolved_config_on_every_node(task_identity, small_cfg):
    grid = NodesGrid({11: 1, 10: 0})
    assert discover_clients(grid, 2, 5.0, small_cfg) == {0: 10, 1: 11}
    assert grid.sent == 2  # one query per node
    for context in grid.nodes.values():
        assert client_config(context) == small_cfg


def test_nodes_asked_without_a_config_have_none(task_identity, small_cfg):
    grid = NodesGrid({5: 0})
    assert discover_clients(grid, 1, 5.0) == {0: 5}
    with pytest.raises(MissingExperimentConfigError):
        client_config(grid.nodes[5])
    with pytest.raises(NodeDiscoveryError, match="both serve client 0"):
        discover_clients(NodesGrid({1: 0, 2: 0}), 1, 5.0, small_cfg)
