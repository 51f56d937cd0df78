"""Run an experiment on Flower's simulation engine (Ray backend)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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

    Flower's engine takes one message per node per sweep and scans every node's stored
    messages (:mod:`fedsim.runtime.engine_poll` sweeps as Flower does, without its 0.1 s
    wait while sweeps find messages or are cheap), so the node count follows the per-round
    cohort (at most ``federation.max_clients`` or all clients), not the number of registered
    clients.
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


_WARM: list[Any] = []  # the session a multirun keeps between its jobs (at most one)


def run_in_simulation(
    cfg: Mapping[str, Any], run_dir: Path, *, resume: bool = False, keep_warm: bool = False
) -> dict[str, Any]:
    """Run the experiment on Flower's simulation engine (Ray); return the summary.

    ``resume`` continues from ``run_dir/checkpoint.npz`` (see :func:`fedsim.server.app.run_server`).
    The ClientApp that Ray ships to its actors holds a plain copy of ``cfg``: no Hydra or
    OmegaConf object reaches an actor, which imports neither (DESIGN.md rule 8).

    The run is a job of a :class:`~fedsim.runtime.session.SimulationSession`. With
    ``keep_warm`` (a multirun's jobs) the session - Ray, the actor pool, Flower's engine - stays
    up for the next job with the same backend settings, until :func:`close_warm_session`;
    otherwise it is closed when this run ends, as a one-shot ``run_simulation`` would be.
    """
    from fedsim.config.plain import plain_config
    from fedsim.runtime.ray_start import abandon_ray_start, start_ray

    try:
        cfg = plain_config(cfg)
    except BaseException:
        abandon_ray_start()
        raise
    start_ray(cfg)  # no-op when the CLI started it already or a warm session runs Ray
    import logging

    from fedsim.experiment import get_experiment

    logging.getLogger("flwr").setLevel(cfg["log"]["flwr_level"])
    try:
        plan = get_experiment(cfg).plan
    except BaseException:
        abandon_ray_start()
        raise
    session = _session_for(cfg, num_flower_nodes(cfg, plan.num_clients))
    try:
        return session.run(cfg, run_dir, resume=resume)
    finally:
        if not (keep_warm and session.alive):
            close_warm_session()


def warm_ray_start(cfg: Mapping[str, Any]):
    """The Ray start of the kept session when it runs Ray with ``cfg``'s arguments, else None."""
    if _WARM and _WARM[0].ray_start.init_args == backend_config(cfg)["init_args"]:
        return _WARM[0].ray_start
    return None


def _session_for(cfg: Mapping[str, Any], num_nodes: int):
    """The warm session if it fits ``cfg``, else a new one (closing the warm one first)."""
    from fedsim.runtime.ray_start import abandon_ray_start, take_ray_start
    from fedsim.runtime.session import SimulationSession, session_key

    if _WARM and _WARM[0].alive and _WARM[0].key == session_key(cfg, num_nodes):
        abandon_ray_start()  # a start made before the session was kept (none normally)
        return _WARM[0]
    close_warm_session()
    session = SimulationSession(cfg, num_nodes, take_ray_start(cfg))
    _WARM.append(session)
    return session


def close_warm_session() -> None:
    """End the session a multirun kept warm (Flower's engine, the actors, Ray); idempotent."""
    while _WARM:
        _WARM.pop().close()
