"""Foreign ClientApps on the deployment path: speak the protocol and join, or be named and refused.

The ServerApp's deployment path (node discovery, then the round loop with
``strict_protocol=True``) runs on an in-process Grid whose node 1001 is a *plain Flower*
ClientApp written here from docs/deployment.md's protocol table (string keys, no fedsim
import), and whose node 1000 runs fedsim's real ClientApp. Messages are real Flower Messages.
"""

from __future__ import annotations

from uuid import uuid4

import pytest
from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedsim.deployment.discovery import NodeDiscoveryError, discover_clients
from fedsim.errors import ProtocolError
from fedsim.server.app import run_server
from tests.conftest import compose
from tests.deployment.test_deployment import TINY
from tests.fake_grid import FakeGrid, task_identity


def foreign_app(*, protocol=True, task_eval=True, extra=False) -> ClientApp:
    """A user's own ClientApp: returns the model unchanged and a fixed accuracy of 0.5."""
    app = ClientApp()

    @app.query()
    def query(msg: Message, context) -> Message:
        items = {"fedsim.client-id": int(context.node_config["partition-id"])}
        if protocol:
            items["fedsim.protocol"] = 1
        return Message(RecordDict({"config": ConfigRecord(items)}), reply_to=msg)

    @app.train()
    def train(msg: Message, context) -> Message:
        cid = int(context.node_config["partition-id"])
        metrics = MetricRecord({"num-examples": 10, "train-loss": 0.1, "client-id": cid,
                                "task-id": 0, "final-lr": 0.05, "train-s": 0.01})  # fmt: skip
        if extra:  # a key fedsim's own clients do not send
            metrics["my-metric"] = 1.0
        content = RecordDict({"arrays": msg.content["arrays"], "metrics": metrics})
        return Message(content, reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context) -> Message:
        cid = int(context.node_config["partition-id"])
        metrics = {"eval-acc": 0.5, "eval-loss": 1.0, "num-examples": 10, "client-id": cid}
        content = {"metrics": MetricRecord(metrics)}
        if task_eval:
            content["fedsim.task-eval"] = ConfigRecord({"positions": [0], "accuracies": [0.5]})
        return Message(RecordDict(content), reply_to=msg)

    return app


class MixedGrid(FakeGrid):
    """Node 1000 runs fedsim's ClientApp, node 1001 the foreign one."""

    def __init__(self, cfg, foreign: ClientApp) -> None:
        super().__init__(cfg, num_nodes=2)
        self.foreign = foreign

    def _answer(self, msg: Message) -> Message:
        if msg.metadata.dst_node_id != 1001:
            return super()._answer(msg)
        reply = self.foreign(msg, self.contexts[1001])
        reply.metadata.__dict__["_message_id"] = str(uuid4())
        return reply


def deploy_on(grid: MixedGrid, cfg, run_dir, *, strict: bool = True) -> dict:
    """What the deployment ServerApp does after composing: discover, then run the rounds."""
    with task_identity():
        node_of_client = discover_clients(grid, 2, 5.0, cfg)
        return run_server(
            cfg,
            grid,
            run_dir,
            state_in_message=False,
            node_of_client=node_of_client,
            strict_protocol=strict,
        )


def test_a_conforming_foreign_client_is_aggregated_and_scored(tmp_path):
    cfg = compose(*TINY, f"output.root={tmp_path}")
    summary = deploy_on(MixedGrid(cfg, foreign_app()), cfg, tmp_path / "run")
    assert summary["rejected_replies"] == 0
    assert [h["clients_trained"] for h in summary["history"]] == [2, 2]
    # its boundary evaluation was recorded under its client id: ACC is not n/a
    assert summary["client_matrices"]["1"] == [[0.5]]


def test_an_evaluation_reply_without_task_eval_fails_naming_node_and_key(tmp_path):
    cfg = compose(*TINY, f"output.root={tmp_path}")
    grid = MixedGrid(cfg, foreign_app(task_eval=False))
    with pytest.raises(ProtocolError) as err:
        deploy_on(grid, cfg, tmp_path / "run")
    assert str(err.value) == (
        "SuperNode 1001 (client 1) does not speak fedsim client protocol 1: its evaluate reply "
        "lacks 'fedsim.task-eval' (docs/deployment.md, 'Foreign clients')"
    )
    # without the protocol check the same run "completes" with the evaluation dropped
    summary = deploy_on(MixedGrid(cfg, foreign_app(task_eval=False)), cfg, tmp_path / "r2",
                        strict=False)  # fmt: skip
    assert "1" not in summary["client_matrices"]


def test_a_node_that_does_not_declare_the_protocol_is_refused_at_discovery(tmp_path):
    cfg = compose(*TINY, f"output.root={tmp_path}")
    grid = MixedGrid(cfg, foreign_app(protocol=False))
    expected = (
        r"^SuperNode 1001 does not speak fedsim client protocol 1: its query reply lacks "
        r"'config\.fedsim\.protocol'"
    )
    with pytest.raises(NodeDiscoveryError, match=expected):
        deploy_on(grid, cfg, tmp_path / "run")


def test_a_train_reply_with_other_metric_keys_than_the_rest_fails_naming_the_odd_one(tmp_path):
    cfg = compose(*TINY, f"output.root={tmp_path}")
    with pytest.raises(ProtocolError) as err:
        deploy_on(MixedGrid(cfg, foreign_app(extra=True)), cfg, tmp_path / "run")
    assert str(err.value) == (
        "SuperNode 1000 (client 0) does not speak fedsim client protocol 1: its train reply lacks "
        "'metrics.my-metric', which SuperNode 1001 (client 1) sends (docs/deployment.md, "
        "'Foreign clients')"
    )
