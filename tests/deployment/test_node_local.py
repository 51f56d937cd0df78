"""Node-local data: each SuperNode holds its own examples and task order; the server none.

The integration test is also the two-address layout: the SuperLink's Control API on
127.0.0.1, its public Fleet API on 127.0.0.2, which the SuperNodes dial and verify by the
certificate's address SAN; and it runs the long-lived ClientApp executors (``--isolation
process``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from flwr.app import Context, RecordDict

from fedsim import wire
from fedsim.data.digits import DigitsSource
from fedsim.deployment.node_config import client_config, query_items, task_orders
from fedsim.errors import ConfigError
from tests.conftest import compose
from tests.deployment.test_deployment import deploy

NODE_LOCAL = (
    "data=node_local",
    "scenario=node_local",
    "scenario.tasks=[[0,1],[2,3]]",
    "scenario.rounds_per_task=2",
    "train.epochs=2",
    "log.progress=false",
)


def context(**node_config) -> Context:
    return Context(run_id=1, node_id=3, node_config=node_config, state=RecordDict(), run_config={})


def with_config(cfg, **node_config) -> Context:
    ctx = context(**node_config)
    from flwr.app import ConfigRecord

    from fedsim.config.plain import config_to_json

    ctx.state[wire.EXPERIMENT_CONFIG] = ConfigRecord({wire.EXPERIMENT_CONFIG: config_to_json(cfg)})
    return ctx


def test_data_path_sets_the_node_local_source_and_is_refused_elsewhere(tmp_path):
    cfg = compose(*NODE_LOCAL, f"output.root={tmp_path}")
    assert cfg["data"]["path"] is None  # the server holds no client data
    got = client_config(with_config(cfg, **{"data-path": "/node/own.npz"}))
    assert got["data"]["path"] == "/node/own.npz"
    digits = compose("log.progress=false", f"output.root={tmp_path}")
    with pytest.raises(ConfigError, match="node-config data-path: needs the run's data=node_local"):
        client_config(with_config(digits, **{"data-path": "/x"}))


def test_a_nodes_stream_is_reported_and_mapped_to_task_ids(tmp_path):
    stream = tmp_path / "stream.json"
    stream.write_text(json.dumps({"tasks": [[3, 2], [1, 0]]}))
    items = query_items(context(stream=str(stream)))
    assert json.loads(items[wire.NODE_STREAM]) == [[2, 3], [0, 1]]
    assert query_items(context()) == {}
    cfg = compose(*NODE_LOCAL, f"output.root={tmp_path}")
    assert task_orders(cfg, {1: (7, items[wire.NODE_STREAM])}) == {"1": [1, 0]}
    with pytest.raises(ConfigError, match=r"SuperNode 7 \(client 1\): classes \[4, 5\] are not"):
        task_orders(cfg, {1: (7, "[[4, 5]]")})
    stream.write_text("[[0, 1], 2]")
    with pytest.raises(ConfigError, match="node-config stream: .* list of class lists"):
        query_items(context(stream=str(stream)))


def write_node_data(root, digits) -> None:
    """Node 0 holds the even-indexed digits 0-3, node 1 the odd ones, and meets task 1 first."""
    keep = np.isin(digits.y_train, [0, 1, 2, 3])
    test = np.isin(digits.y_test, [0, 1, 2, 3])
    for k in range(2):
        own = root / f"node-{k}"
        own.mkdir(parents=True)
        np.save(own / "x.npy", digits.x_train[keep][k::2])
        np.save(own / "y.npy", digits.y_train[keep][k::2])
        np.save(own / "x_test.npy", digits.x_test[test][k::2])
        np.save(own / "y_test.npy", digits.y_test[test][k::2])
    (root / "node-1" / "stream.json").write_text(json.dumps([[2, 3], [0, 1]]))


@pytest.mark.integration
def test_node_local_data_on_two_addresses(tmp_path):
    write_node_data(tmp_path / "nodes", DigitsSource().load())
    res = deploy(
        "local",
        "--workdir",
        str(tmp_path / "w"),
        "--fleet-host",
        "127.0.0.2",
        "--node-data",
        str(tmp_path / "nodes"),
        *NODE_LOCAL,
        "scenario.num_clients=2",
        f"output.root={tmp_path}/runs",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "central evaluation" in res.stdout and "skipped" in res.stdout
    (run_dir,) = [p.parent for p in (tmp_path / "runs").rglob("summary.json")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["central_eval"].startswith("skipped") and summary["final_central_acc"] is None
    assert summary["rounds"] == 4 and summary["rejected_replies"] == 0
    assert summary["client_orders"] == {"0": [0, 1], "1": [1, 0]}  # node 1's own order
    assert summary["final"]["acc"] > 0.5, "each node learned on its own examples"
    logs = tmp_path / "w" / "logs"
    for k in range(2):  # one long-lived executor per node served every message
        assert "task done" in (logs / f"clientapp-{k}.log").read_text()
    server_log = (tmp_path / "w" / "logs" / "superlink.log").read_text()
    assert "127.0.0.2" in server_log
