"""Run an experiment on Flower's simulation engine (Ray backend)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.errors import FedsimError


def max_messages(cfg: Mapping[str, Any]) -> int | None:
    """Flower messages per send: ``backend.max_messages``, or twice the number of actors.

    ``0`` disables packing (one Flower message per client). On an existing cluster the
    actor count is unknown before Ray starts; the default then assumes 16 actors.
    """
    be = cfg["backend"]
    value = be.get("max_messages")
    if value is not None:
        return int(value) or None
    if be.get("ray_address"):
        return 32
    cpus = int(be.get("ray_num_cpus") or os.cpu_count() or 1)
    return max(1, 2 * int(cpus // float(be["client_cpus"])))


def num_flower_nodes(cfg: Mapping[str, Any], num_clients: int) -> int:
    """Flower nodes that carry the virtual clients.

    Flower's engine takes one message per node per 0.1 s sweep and scans every node, so the
    node count follows the per-round cohort (at most ``federation.max_clients`` or all
    clients), not the number of registered clients.
    """
    import math

    explicit = cfg["backend"].get("num_nodes")
    if explicit:
        return int(min(explicit, num_clients))
    packs = max_messages(cfg)
    if packs:
        return int(min(num_clients, packs))
    fed = cfg["federation"]
    cohort = max(int(fed["min_clients"]), math.ceil(float(fed["fraction_train"]) * num_clients))
    if fed.get("max_clients"):
        cohort = min(cohort, int(fed["max_clients"]))
    return int(max(1, min(num_clients, cohort)))


def object_store_bytes(store_mb: int) -> int:
    """``store_mb`` MiB, but never more than Ray's own default (30% of physical memory)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: trust the setting
        return store_mb * 2**20
    return max(75 * 2**20, min(store_mb * 2**20, int(0.3 * ram)))


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
        store_mb = be.get("ray_object_store_mb")
        init_args["object_store_memory"] = object_store_bytes(int(store_mb)) if store_mb else None
        init_args = {k: v for k, v in init_args.items() if v is not None}
    restarts = int(be.get("actor_max_restarts", 3))
    return {
        # Flower passes these to ``ClientAppActor.options(...)``: besides the resources, Ray
        # restarts a dead actor (killed, OOM) up to ``restarts`` times and re-runs the task it
        # was running once, so the same clients train; beyond that its replies are errors and
        # the run ends "degraded" (fedsim.server.health).
        "client_resources": {
            "num_cpus": cpus if cpus % 1 else int(cpus),
            "num_gpus": float(be["client_gpus"]),
            "max_restarts": restarts,
            "max_task_retries": 1 if restarts else 0,
        },
        "init_args": init_args,
    }


def run_in_simulation(
    cfg: Mapping[str, Any], run_dir: Path, *, resume: bool = False
) -> dict[str, Any]:
    """Run the experiment with ``flwr.simulation.run_simulation``; return the summary.

    ``resume`` continues from ``run_dir/checkpoint.npz`` (see :func:`fedsim.server.app.run_server`).
    The ClientApp that Ray ships to its actors holds a plain copy of ``cfg``: no Hydra or
    OmegaConf object reaches an actor, which imports neither (DESIGN.md rule 8).
    """
    import warnings

    from fedsim.config.plain import plain_config
    from fedsim.runtime.ray_start import abandon_ray_start, start_ray, take_ray_start

    try:
        cfg = plain_config(cfg)
    except BaseException:
        abandon_ray_start()
        raise
    start_ray(cfg)  # no-op when the CLI started it already
    from flwr.app import Context
    from flwr.serverapp import Grid, ServerApp

    from fedsim.client.app import build_client_app
    from fedsim.experiment import get_experiment
    from fedsim.server.app import run_server

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from flwr.simulation import run_simulation

    outcome: dict[str, Any] = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            outcome["summary"] = run_server(
                cfg, grid, run_dir, max_messages=max_messages(cfg), resume=resume
            )
        except BaseException as exc:  # handed to the driver thread below
            outcome["error"] = exc

    import logging

    logging.getLogger("flwr").setLevel(cfg["log"]["flwr_level"])
    try:
        plan = get_experiment(cfg).plan
    except BaseException:
        abandon_ray_start()
        raise
    ray_start = take_ray_start(cfg)
    try:
        ray_start.wait()  # Flower's backend finds Ray initialised and shuts it down at the end
        run_simulation(
            server_app=server_app,
            client_app=build_client_app(lambda _ctx: cfg),
            num_supernodes=num_flower_nodes(cfg, plan.num_clients),
            backend_name="ray",
            backend_config=backend_config(cfg),
        )
    finally:
        ray_start.release()
    if "error" in outcome:
        raise outcome["error"]
    if "summary" not in outcome:
        raise FedsimError("the simulation ended without running the ServerApp (see the log above)")
    return outcome["summary"]
