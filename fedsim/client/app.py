"""The fedsim ClientApp (Flower Message API): train / evaluate one virtual client per message.

A message names its client id (``fedsim.client-id``); in simulation the client's state travels
with the message (the server keeps the store), on the deployment engine a node *is* one client
and its state lives in ``context.state`` (DESIGN.md rule 4).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedsim import wire
from fedsim.client.learners import get_learner
from fedsim.client.plugins.local_dp import local_dp_reply
from fedsim.client.secagg_mod import secagg_mod
from fedsim.client.state import ClientState
from fedsim.experiment import get_experiment
from fedsim.faults.client import before_train, corrupt_arrays
from fedsim.seeding import rng_for
from fedsim.transport import packing

ConfigSource = Callable[[Context], Mapping[str, Any]]


def _client_id(config: ConfigRecord, context: Context) -> int:
    if wire.CLIENT_ID in config:
        return int(config[wire.CLIENT_ID])
    node_cfg = context.node_config
    for key in (wire.NODE_CLIENT_ID, wire.NODE_PARTITION_ID):
        if key in node_cfg:
            return int(node_cfg[key])
    raise ValueError("message names no client id and the node config has no 'partition-id'")


def _load_state(content: RecordDict, context: Context, in_message: bool) -> ClientState:
    records = content if in_message else context.state
    return ClientState.from_records(
        records.config_records.get(wire.CLIENT_STATE),
        records.array_records.get(wire.CLIENT_ARRAYS),
    )


def _prepare(cfg: Mapping[str, Any], content: RecordDict, context: Context):
    """What train and evaluate both start from: experiment, config, client, state, learner."""
    exp = get_experiment(cfg)
    config = content[wire.CONFIG]
    cid = _client_id(config, context)
    in_message = bool(config.get(wire.STATE_IN_MESSAGE, True))
    state = _load_state(content, context, in_message)
    learner = get_learner(str(config.get(wire.CLIENT_LEARNER, "weights")))
    return exp, config, cid, in_message, state, learner


def train_one(cfg: Mapping[str, Any], content: RecordDict, context: Context) -> RecordDict:
    """Train one virtual client described by ``content``; return its reply content."""
    exp, config, cid, in_message, state, learner = _prepare(cfg, content, context)
    for key in (wire.LR_ARRAYS, wire.TARGET_SYNTHETIC, wire.TARGET_TEACHER):
        if key in content.array_records:
            state.shared[key] = content.array_records[key]
    before_train(config, cid)  # injected faults: crash, straggler delay
    started = time.perf_counter()  # after an injected straggler delay: compute time only
    reply = learner.train(
        exp, cid, int(config[wire.SERVER_ROUND]), content[wire.ARRAYS], config, state
    )
    metrics = {**reply.metrics, wire.TRAIN_SECONDS: time.perf_counter() - started}
    arrays = reply.arrays
    if wire.LOCAL_DP_CLIP in config:  # local DP: the update is privatised before it leaves
        rng = rng_for(exp.seed, "local-dp", int(config[wire.SERVER_ROUND]), cid)
        arrays, dp_metrics, items = local_dp_reply(
            config, content[wire.ARRAYS], arrays, reply.state.config, rng
        )
        metrics.update(dp_metrics)
        reply.state.config.update(items)
    arrays = corrupt_arrays(config, content[wire.ARRAYS], arrays)
    out = RecordDict({wire.ARRAYS: arrays, wire.METRICS: MetricRecord(metrics)})
    for name, record in reply.extra.items():
        out[name] = record
    state_cfg, state_arrays = reply.state.to_records()
    if in_message:
        out[wire.CLIENT_STATE] = state_cfg
        if len(state_arrays) > 0:
            out[wire.CLIENT_ARRAYS] = state_arrays
    else:
        context.state[wire.CLIENT_STATE] = state_cfg
        context.state[wire.CLIENT_ARRAYS] = state_arrays
    return out


def evaluate_one(cfg: Mapping[str, Any], content: RecordDict, context: Context) -> RecordDict:
    """Evaluate one virtual client described by ``content``; return its reply content."""
    exp, config, cid, _, state, learner = _prepare(cfg, content, context)
    reply = learner.evaluate(
        exp, cid, int(config[wire.SERVER_ROUND]), content[wire.ARRAYS], config, state
    )
    items = {wire.EVAL_POSITIONS: reply.positions, wire.EVAL_ACCURACIES: reply.accuracies}
    if reply.task_ids:
        items.update({wire.EVAL_TASK_IDS: reply.task_ids, wire.EVAL_ORDER: reply.order})
    task_eval = ConfigRecord(items)
    return RecordDict({wire.METRICS: MetricRecord(reply.metrics), wire.TASK_EVAL: task_eval})


Handler = Callable[[Mapping[str, Any], RecordDict, Context], RecordDict]


def _dispatch(handler: Handler, cfg: Mapping[str, Any], msg: Message, context: Context) -> Message:
    """Run ``handler`` on a single-client message or on every client of a pack.

    Inside a pack one client's exception becomes that client's error reply; the others
    are unaffected (as if each had its own message).
    """
    torch.set_num_threads(1)
    if not packing.is_packed(msg.content):
        return Message(content=handler(cfg, msg.content, context), reply_to=msg)
    replies: list[RecordDict | str] = []
    for part in packing.unpack(msg.content):
        try:
            replies.append(handler(cfg, part, context))
        except Exception as exc:  # noqa: BLE001 - reported per client, like Flower does
            replies.append(f"{type(exc).__name__}: {exc}")
    return Message(content=packing.pack_replies(replies), reply_to=msg)


def build_client_app(
    config_source: ConfigSource, query_items: Callable[[Context], Mapping[str, Any]] | None = None
) -> ClientApp:
    """Return a ClientApp whose experiment config comes from ``config_source(context)``.

    ``query_items(context)`` adds items to the query reply (deployment: the node's own task
    stream, :func:`fedsim.deployment.node_config.query_items`).
    """
    app = ClientApp(mods=[secagg_mod(config_source)])  # passes through unless privacy.secagg

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        return _dispatch(train_one, config_source(context), msg, context)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return _dispatch(evaluate_one, config_source(context), msg, context)

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        """Tell the server which client this node serves (deployment engine).

        A query may hand the node the run's resolved experiment config (deployment: the
        ServerApp's discovery query); it is kept in ``context.state`` for later messages.
        """
        config = msg.content.config_records.get(wire.CONFIG, ConfigRecord())
        if wire.EXPERIMENT_CONFIG in config:
            text = str(config[wire.EXPERIMENT_CONFIG])
            context.state[wire.EXPERIMENT_CONFIG] = ConfigRecord({wire.EXPERIMENT_CONFIG: text})
        if wire.WARM_UP in config:
            get_experiment(config_source(context))  # load data + plan before a deadline
        cid = _client_id(ConfigRecord(), context)
        answer = ConfigRecord({wire.CLIENT_ID: cid, wire.PROTOCOL: wire.PROTOCOL_VERSION})
        if query_items is not None:
            answer.update(query_items(context))
        return Message(content=RecordDict({wire.CONFIG: answer}), reply_to=msg)

    return app
