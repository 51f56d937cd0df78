"""The Flower app objects ``flwr run`` loads (``[tool.flwr.app.components]`` in pyproject.toml).

``server_app`` composes the experiment config with Hydra from Flower's run config
(``experiment``, ``overrides``, ``output-root``, ``run-dir``, ``node-timeout``), writes the same run
directory as a simulation (``config.yaml``, ``status.json``, ``tb/``, ``summary.json``), learns
which SuperNode serves which client - handing each node the resolved config in that query - and
runs :func:`fedsim.server.app.run_server` with client state kept on the nodes (``context.state``).
``client_app`` is the simulation's ClientApp with the config the ServerApp sent plus the node's own
``--node-config`` (``data-root``): a SuperNode imports neither Hydra nor the ``configs/`` tree
(DESIGN.md rule 8); only the ServerApp, on the SuperLink's side, composes.
"""

from __future__ import annotations

import logging
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedsim.client.app import build_client_app
from fedsim.deployment.node_config import client_config, query_items
from fedsim.deployment.polling_grid import PollingGrid, use_quick_reply_pulls

log = logging.getLogger("fedsim.deployment")


def merge_node_streams(grid, cfg, run_dir, node_of_client, streams, timeout: float) -> None:
    """Put the task orders the nodes reported into the config; hand the nodes the final one."""
    from fedsim.config.validate import validate
    from fedsim.deployment.discovery import send_config
    from fedsim.deployment.node_config import task_orders
    from fedsim.runtime.run_dir import write_config

    orders = task_orders(cfg, streams)  # refused unless scenario=node_local
    cfg["scenario"]["orders"] = {**cfg["scenario"].get("orders", {}), **orders}
    validate(cfg, engine="deployment")
    write_config(run_dir, cfg)
    send_config(grid, list(node_of_client.values()), cfg, timeout)
    print(f"fedsim: task orders of the SuperNodes {cfg['scenario']['orders']}", flush=True)


def run_deployment(grid: Grid, context: Context) -> dict[str, Any]:
    """The ServerApp body: compose, validate, write the run directory, discover nodes, run."""
    from fedsim.config.validate import validate
    from fedsim.deployment.discovery import discover_clients
    from fedsim.deployment.run_config import compose_run_config, node_timeout, run_dir_for
    from fedsim.env import set_defaults
    from fedsim.experiment import get_experiment
    from fedsim.runtime.run_dir import mark, write_config
    from fedsim.server.app import run_server

    set_defaults()
    grid = PollingGrid(grid)  # replies seen within ~0.1 s, not Flower's 3 s pull cycle
    use_quick_reply_pulls()  # ... and their arrays fetched without Flower's 1 s first retry
    run_config = dict(context.run_config)
    cfg = compose_run_config(run_config)
    run_dir = run_dir_for(cfg, run_config, int(context.run_id))
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"fedsim: run directory {run_dir}", flush=True)
    try:
        timeout = node_timeout(run_config)
        validate(cfg, engine="deployment")
        write_config(run_dir, cfg)
        mark(run_dir, "running", engine="deployment", flwr_run_id=int(context.run_id))
        num_clients = get_experiment(cfg).plan.num_clients
        streams: dict[int, tuple[int, str]] = {}
        node_of_client = discover_clients(grid, num_clients, timeout, cfg, streams)
        if streams:
            merge_node_streams(grid, cfg, run_dir, node_of_client, streams, timeout)
        print(f"fedsim: {num_clients} clients on SuperNodes {node_of_client}", flush=True)
        summary = run_server(
            cfg,
            grid,
            run_dir,
            state_in_message=False,
            node_of_client=node_of_client,
            strict_protocol=True,
        )
    except BaseException as exc:
        if isinstance(exc, SystemExit | KeyboardInterrupt):  # a signal: the launcher knows why
            why = {"error": "the ServerApp was stopped before the run ended", "stopped": True}
        else:
            why = {"error": f"{type(exc).__name__}: {exc}"}
        mark(run_dir, "failed", engine="deployment", flwr_run_id=int(context.run_id), **why)
        raise
    mark(run_dir, "completed", engine="deployment", flwr_run_id=int(context.run_id))
    print(f"fedsim: completed, summary in {run_dir / 'summary.json'}", flush=True)
    return summary


server_app = ServerApp()


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    """Run one fedsim experiment on the deployment engine."""
    run_deployment(grid, context)


client_app = build_client_app(client_config, query_items)
