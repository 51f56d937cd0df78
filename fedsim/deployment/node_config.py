"""The experiment config on a SuperNode: the ServerApp's resolved config plus the node's own items.

Only the ServerApp composes the config with Hydra (DESIGN.md rule 8). It sends the resolved,
validated config as JSON in the ``query`` message that asks each node which client it serves
(:func:`fedsim.deployment.discovery.discover_clients`); the ClientApp keeps it in the node's
``context.state`` (:func:`fedsim.client.app.build_client_app`) and every later message reads it
from there. A SuperNode so needs neither Hydra nor the ``configs/`` tree, and every node uses
exactly the config the server validated. This module imports neither Hydra nor OmegaConf.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flwr.app import Context

from fedsim import wire
from fedsim.config.plain import config_from_json, config_to_json
from fedsim.errors import ConfigError, FedsimError

# Node-config keys (flower-supernode --node-config)
DATA_ROOT = "data-root"
DATA_PATH = "data-path"  # the node's own examples (data=node_local): .npz or a .npy directory
STREAM = "stream"  # JSON file: the node's task order as class lists (scenario=node_local)
NODE_LOCAL_DATA = "fedsim.data.node_arrays.NodeArraysSource"
NODE_LOCAL_SCENARIO = "scenarios.node_local.node_local"


class MissingExperimentConfigError(FedsimError):
    """A message reached a SuperNode before the ServerApp sent it the experiment config."""


def config_items(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The query ConfigRecord items that hand a node the resolved config (driver side)."""
    return {wire.EXPERIMENT_CONFIG: config_to_json(cfg)}


def client_config(context: Context) -> dict[str, Any]:
    """The config a SuperNode's ClientApp uses: the server's config plus the node's own items.

    ``data-root`` in the node config replaces ``data.root`` (the node's own copy of the data);
    ``data-path`` sets ``data.path`` of ``data=node_local`` (the node's own examples).

    Raises
    ------
    MissingExperimentConfigError
        The node's state holds no config (the ServerApp sends it with its first query).
    ConfigError
        ``data-root`` is given but the data source reads no directory, or ``data-path`` but
        the data source is not ``node_local``.
    """
    record = context.state.config_records.get(wire.EXPERIMENT_CONFIG)
    if record is None or wire.EXPERIMENT_CONFIG not in record:
        raise MissingExperimentConfigError(
            "this SuperNode holds no experiment config: the fedsim ServerApp sends it in its "
            "first query message, before any training (is the run's ServerApp fedsim's?)"
        )
    cfg = config_from_json(str(record[wire.EXPERIMENT_CONFIG]), "experiment config")
    node_config = dict(context.node_config)
    if DATA_ROOT in node_config:
        data = cfg["data"]
        if "root" not in data:
            raise ConfigError(
                f"node-config {DATA_ROOT}",
                f"data source '{data.get('name', '?')}' reads no directory (no data.root)",
            )
        data["root"] = str(node_config[DATA_ROOT])
    if DATA_PATH in node_config:
        if cfg["data"].get("_target_") != NODE_LOCAL_DATA:
            raise ConfigError(
                f"node-config {DATA_PATH}", "needs the run's data=node_local (node-local data)"
            )
        cfg["data"]["path"] = str(node_config[DATA_PATH])
    return cfg


def read_stream(path: str) -> list[list[int]]:
    """The task order in a node's stream file: ``[[classes], ...]`` or ``{"tasks": [...]}``."""
    key = f"node-config {STREAM}"
    try:
        data = json.loads(Path(path).expanduser().read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(key, f"cannot read '{path}' as JSON: {exc}") from None
    tasks = data.get("tasks") if isinstance(data, dict) else data
    if (
        not isinstance(tasks, list)
        or not tasks
        or not all(isinstance(t, list) and t and all(isinstance(c, int) for c in t) for t in tasks)
    ):
        raise ConfigError(key, f"'{path}' must hold a non-empty list of class lists")
    return [sorted(t) for t in tasks]


def query_items(context: Context) -> dict[str, str]:
    """What a node adds to its discovery answer: its own task stream, if it has one."""
    path = context.node_config.get(STREAM)
    if path is None:
        return {}
    return {wire.NODE_STREAM: json.dumps(read_stream(str(path)))}


def task_orders(
    cfg: Mapping[str, Any], streams: Mapping[int, tuple[int, str]]
) -> dict[str, list[int]]:
    """Client id -> task ids, from the streams the nodes reported (server side).

    ``streams`` maps a client id to (node id, the stream JSON it reported). Each class list
    must be one task of ``scenario.tasks``.

    Raises
    ------
    ConfigError
        A node reports a stream but the run's scenario is not ``node_local``, or a class list
        is not a task of the layout (the message names the node).
    """
    if not streams:
        return {}
    scenario = cfg["scenario"]
    if scenario.get("_target_") != NODE_LOCAL_SCENARIO:
        node = next(iter(streams.values()))[0]
        raise ConfigError(
            f"node-config {STREAM}", f"SuperNode {node} reports a stream; needs scenario=node_local"
        )
    layout = {tuple(sorted(t)): k for k, t in enumerate(scenario["tasks"])}
    orders = {}
    for cid, (node, text) in sorted(streams.items()):
        order = []
        for classes in json.loads(text):
            if tuple(classes) not in layout:
                raise ConfigError(
                    f"node-config {STREAM}",
                    f"SuperNode {node} (client {cid}): classes {classes} are not a task of "
                    f"scenario.tasks {list(scenario['tasks'])}",
                )
            order.append(layout[tuple(classes)])
        orders[str(cid)] = order
    return orders
