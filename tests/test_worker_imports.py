"""Hydra stops at the driver (DESIGN.md rule 8): workers train without Hydra or configs/.

A fresh interpreter, in which importing ``hydra``, ``omegaconf`` or ``fedsim.config.compose`` (the
only reader of ``configs/``) fails and is recorded, runs a client's training both ways a worker
does: ``train_one`` on the resolved config (a Ray actor in simulation) and the ClientApp that
``flwr run`` loads on a SuperNode, which gets the config from the ServerApp's discovery query;
then it imports every module of the worker-side packages (learners, plugins, data, scenarios).
"""

from __future__ import annotations

import json
import subprocess
import sys

from fedsim import wire
from fedsim.deployment.node_config import config_items
from fedsim.server.app import train_config
from tests.conftest import cli_env

CHILD = r"""
import importlib.abc, json, sys

BLOCKED = ("hydra", "omegaconf", "fedsim.config.compose")
tried = []

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            tried.append(name)
            raise ImportError(f"{name} imported on a worker")
        return None

sys.meta_path.insert(0, Block())
for name in BLOCKED:
    sys.modules[name] = None  # and poisoned, as the brief asks
try:
    import omegaconf  # noqa: F401
except ImportError:
    tried.clear()
else:
    raise SystemExit("the poison is not in effect")

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from fedsim import wire
from fedsim.client.app import train_one
from fedsim.experiment import get_experiment

payload = json.loads(open(sys.argv[1]).read())
cfg, items, query_items = payload["cfg"], payload["items"], payload["query"]
arrays = ArrayRecord(get_experiment(cfg).make_model().state_dict())


def context(node_config):
    return Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})


def content(in_message):
    config = ConfigRecord({**items, wire.STATE_IN_MESSAGE: in_message})
    return RecordDict({wire.ARRAYS: arrays, wire.CONFIG: config})


out = {}
reply = train_one(cfg, content(True), context({}))  # a Ray actor: state travels in the message
out["sim"] = {k: v for k, v in reply[wire.METRICS].items() if k != wire.TRAIN_SECONDS}
out["sim_state"] = wire.CLIENT_STATE in reply

from flwr.supercore.task_identity import TaskIdentity

from fedsim.deployment.apps import client_app  # what flwr loads on a SuperNode

TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1  # as a ServerApp's

node = context({"partition-id": items[wire.CLIENT_ID]})
query = RecordDict({wire.CONFIG: ConfigRecord(query_items)})
answer = client_app(Message(query, dst_node_id=7, message_type=MessageType.QUERY), node)
out["client_id"] = answer.content[wire.CONFIG][wire.CLIENT_ID]
items.pop(wire.CLIENT_ID)  # on a node, the node config names the client
train = Message(content(False), dst_node_id=7, message_type=MessageType.TRAIN)
reply = client_app(train, node)
out["node_error"] = reply.error.reason if reply.has_error() else None
out["node"] = None if reply.has_error() else {
    k: v for k, v in reply.content[wire.METRICS].items() if k != wire.TRAIN_SECONDS
}
out["node_state"] = wire.CLIENT_STATE in node.state
import importlib, pkgutil  # every module a worker may load: learners, plugins, data, scenarios

for package in ("fedsim.client", "fedsim.data", "fedsim.models", "fedsim.faults", "scenarios"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(info.name)
out["tried"] = tried
print("RESULT " + json.dumps(out))
"""


def test_workers_train_without_hydra_omegaconf_or_configs(small_cfg, tmp_path):
    from fedsim.experiment import get_experiment

    cid = get_experiment(small_cfg).plan.active_clients(1)[-1]
    items = {
        **train_config(small_cfg),
        wire.LR: float(small_cfg["train"]["lr"]),
        wire.CLIENT_ID: cid,
        wire.SERVER_ROUND: 1,
    }
    payload = tmp_path / "payload.json"
    payload.write_text(
        json.dumps({"cfg": small_cfg, "items": items, "query": config_items(small_cfg)})
    )
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(payload)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no configs/ next to the worker
        env=cli_env(),
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (line,) = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    out = json.loads(line.removeprefix("RESULT "))
    assert out["tried"] == [], out["tried"]
    assert out["sim"][wire.NUM_EXAMPLES] > 0 and out["sim_state"]
    assert out["client_id"] == cid
    assert out["node_error"] is None
    assert out["node"] == out["sim"]  # the node used exactly the driver's config
    assert out["node_state"]
