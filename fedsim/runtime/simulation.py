"""Run an experiment on Flower's simulation engine (Ray backend)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.errors import FedsimError


def num_flower_nodes(cfg: Mapping[str, Any], num_clients: int) -> int:
    """Flower nodes that carry the virtual clients.

    Flower's engine takes one message per node per 0.1 s sweep and scans every node, so the
    node count follows the per-round cohort (at most ``federation.max_clients`` or all
    clients), not the number of registered clients.
    """
    explicit = cfg["backend"].get("num_nodes")
    if explicit:
        return int(min(explicit, num_clients))
    cap = cfg["federation"].get("max_clients")
    return int(min(num_clients, cap)) if cap else int(num_clients)


def backend_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Ray backend settings: client resources and ``ray.init`` arguments."""
    be = cfg["backend"]
    cpus = float(be["client_cpus"])
    init_args: dict[str, Any] = {"include_dashboard": False}
    if be.get("ray_address"):
        init_args["address"] = str(be["ray_address"])
    else:
        init_args["num_cpus"] = int(be.get("ray_num_cpus") or os.cpu_count() or 1)
        init_args["num_gpus"] = 0 if float(be["client_gpus"]) == 0 else None
        init_args = {k: v for k, v in init_args.items() if v is not None}
    return {
        "client_resources": {
            "num_cpus": cpus if cpus % 1 else int(cpus),
            "num_gpus": float(be["client_gpus"]),
        },
        "init_args": init_args,
    }


def run_in_simulation(
    cfg: Mapping[str, Any], run_dir: Path, *, resume: bool = False
) -> dict[str, Any]:
    """Run the experiment with ``flwr.simulation.run_simulation``; return the summary.

    ``resume`` continues from ``run_dir/checkpoint.pkl`` (see :func:`fedsim.server.run_server`).
    """
    import warnings

    from flwr.app import Context
    from flwr.serverapp import Grid, ServerApp

    from fedsim.client_app import build_client_app
    from fedsim.experiment import get_experiment
    from fedsim.server import run_server

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from flwr.simulation import run_simulation

    outcome: dict[str, Any] = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            outcome["summary"] = run_server(cfg, grid, run_dir, resume=resume)
        except BaseException as exc:  # handed to the driver thread below
            outcome["error"] = exc

    import logging

    logging.getLogger("flwr").setLevel(cfg["log"]["flwr_level"])
    plan = get_experiment(cfg).plan
    run_simulation(
        server_app=server_app,
        client_app=build_client_app(lambda _ctx: cfg),
        num_supernodes=num_flower_nodes(cfg, plan.num_clients),
        backend_name="ray",
        backend_config=backend_config(cfg),
    )
    if "error" in outcome:
        raise outcome["error"]
    if "summary" not in outcome:
        raise FedsimError("the simulation ended without running the ServerApp (see the log above)")
    return outcome["summary"]
