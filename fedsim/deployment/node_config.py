"""The experiment config on a SuperNode: the ServerApp's resolved config plus the node's own items.

Only the ServerApp composes the config with Hydra (DESIGN.md rule 8). It sends the resolved,
validated config as JSON in the ``query`` message that asks each node which client it serves
(:func:`fedsim.deployment.discovery.discover_clients`); the ClientApp keeps it in the node's
``context.state`` (:func:`fedsim.client.app.build_client_app`) and every later message reads it
from there. A SuperNode so needs neither Hydra nor the ``configs/`` tree, and every node uses
exactly the config the server validated. This module imports neither Hydra nor OmegaConf.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flwr.app import Context

from fedsim import wire
from fedsim.config.plain import config_from_json, config_to_json
from fedsim.errors import ConfigError, FedsimError

# Node-config keys (flower-supernode --node-config)
DATA_ROOT = "data-root"


class MissingExperimentConfigError(FedsimError):
    """A message reached a SuperNode before the ServerApp sent it the experiment config."""


def config_items(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The query ConfigRecord items that hand a node the resolved config (driver side)."""
    return {wire.EXPERIMENT_CONFIG: config_to_json(cfg)}


def client_config(context: Context) -> dict[str, Any]:
    """The config a SuperNode's ClientApp uses: the server's config plus the node's own items.

    ``data-root`` in the node config replaces ``data.root`` (the node's own copy of the data).

    Raises
    ------
    MissingExperimentConfigError
        The node's state holds no config (the ServerApp sends it with its first query).
    ConfigError
        ``data-root`` is given but the data source reads no directory.
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
    return cfg
