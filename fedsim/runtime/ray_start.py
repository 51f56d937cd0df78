"""Start Ray in the background while the driver is still building the experiment.

``ray.init`` takes ~2.5-3.5 s on the 2-core CI machine (GCS, raylet, agents). Flower's Ray
backend calls it when the simulation starts, inside round 1's wait. Flower only initialises Ray
when it is not initialised yet, so fedsim starts it itself, in a thread, as soon as the config
is known, with the arguments Flower would use (``backend_config(cfg)["init_args"]``; the driver's
``PYTHONPATH`` reaches the workers through ``os.environ`` for a Ray of our own and through a
runtime env on an existing cluster), and the simulation waits for it before handing over to
Flower.
Flower's backend still shuts Ray down at the end of the run.

The thread stays alive until :meth:`RayStart.release`: Ray starts its GCS and raylet with
``PR_SET_PDEATHSIG``, which Linux ties to the *thread* that spawned them - if that thread ended,
the GCS would be killed under the running simulation.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from fedsim.errors import FedsimError
from fedsim.runtime.ray_logs import quiet_benign_shutdown_lines

_LOCK = threading.Lock()
_CURRENT: RayStart | None = None


class RayStart:
    """``ray.init`` running in a daemon thread; :meth:`wait` joins it and re-raises failures.

    Parameters
    ----------
    init_args : dict
        Keyword arguments of ``ray.init`` (as Flower's backend config holds them).
    logging_level : str
        Level of Ray's driver-side logger (``log.flwr_level``): Ray's start-up chatter must
        not break fedsim's one-line errors.
    """

    def __init__(self, init_args: Mapping[str, Any], logging_level: str = "ERROR") -> None:
        self.init_args = dict(init_args)
        self.logging_level = logging_level
        self.error: BaseException | None = None
        self.watchdog = None  # fedsim.runtime.watchdog process (a local Ray only)
        self.initialised = False  # this start called ``ray.init`` (and may shut Ray down)
        self._ready = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fedsim-ray-start", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._init()
        except BaseException as exc:  # noqa: BLE001 - handed to wait()
            self.error = exc
        finally:
            self._ready.set()
        self._release.wait()  # Ray's daemons die with this thread (PR_SET_PDEATHSIG)

    def _init(self) -> None:
        import ray

        if ray.is_initialized():
            return
        # Same as Flower's RayBackend.init_ray: actors must import what the driver can.
        pythonpath = os.pathsep.join(sys.path)
        if os.environ.get("PYTHONPATH"):
            pythonpath = f"{pythonpath}{os.pathsep}{os.environ['PYTHONPATH']}"
        os.environ["PYTHONPATH"] = pythonpath
        args = {
            "include_dashboard": False,
            "logging_level": getattr(logging, str(self.logging_level).upper(), logging.ERROR),
            **self.init_args,
        }
        if "address" in self.init_args:  # a cluster's workers do not inherit our environment
            args["runtime_env"] = {"env_vars": {"PYTHONPATH": pythonpath}}
        # A Ray of our own inherits os.environ (PYTHONPATH included). Without a job runtime
        # env its actors reuse the worker processes Ray prestarts while it starts, instead of
        # spawning new ones when Flower's engine creates them.
        quiet_benign_shutdown_lines()  # before ray.init: its log handler uses the filter
        ray.init(**args)
        self.initialised = True
        if "address" not in self.init_args:  # a Ray of our own: its helpers die with us
            from fedsim.runtime.watchdog import helper_processes, start_watchdog

            self.watchdog = start_watchdog(helper_processes())

    def wait(self) -> None:
        """Block until Ray is up; raise a one-line error if it failed to start."""
        self._ready.wait()
        if self.error is not None:
            where = self.init_args.get("address", "a local Ray")
            raise FedsimError(
                f"backend: could not start/join {where}: "
                f"{type(self.error).__name__}: {self.error}"
            )

    def stop_autoscaler(self) -> None:
        """Kill the autoscaler monitor of a Ray this start initialised; before its shutdown.

        ``ray.shutdown`` stops the GCS first and then SIGTERMs the monitor, whose handler
        tries to report its termination to that GCS until ``ray.shutdown`` SIGKILLs it after a
        1 s timeout: a second of every run's teardown. A single-node Ray of our own has nothing
        to autoscale, so the monitor is SIGKILLed (no handler, no report) once the last job is
        done; ``ray.shutdown`` then finds it gone. A Ray found running is left alone.
        """
        if not (self._ready.is_set() and self.error is None and self.initialised):
            return
        if "address" in self.init_args:
            return
        try:  # Ray's own record of the processes it started (ray._private.node.Node)
            from ray._private import ray_constants
            from ray._private import worker as ray_worker

            node = ray_worker._global_node
            infos = node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR, []) if node else []
        except (ImportError, AttributeError):  # another Ray release: the 1 s stays
            return
        for info in infos:
            process = getattr(info, "process", None)
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=5)

    def found_ray_gone(self) -> bool:
        """True when this start found Ray running (did not initialise it) and Ray is down now."""
        self._ready.wait()
        if self.error is not None or self.initialised:
            return False
        import ray

        return not ray.is_initialized()

    def abandon(self) -> None:
        """The run will not happen: wait for the start, then shut Ray down again."""
        self._ready.wait()
        self.release()

    def release(self) -> None:
        """Shut Ray down if the simulation did not (it failed early), then let the thread end.

        Only a start that initialised Ray itself shuts it down: a start that found Ray running
        (a warm :class:`~fedsim.runtime.session.SimulationSession`'s) leaves it alone.
        """
        if self._ready.is_set() and self.error is None and self.initialised:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        from fedsim.runtime.watchdog import stop_watchdog

        stop_watchdog(self.watchdog)
        self.watchdog = None
        self._release.set()
        self._thread.join()


def start_ray(cfg: Mapping[str, Any]) -> RayStart:
    """Start Ray for ``cfg`` in the background (once per process until it is consumed).

    When a warm session (a multirun's) already runs Ray with ``cfg``'s arguments, that
    session's start is returned and nothing new starts.
    """
    from fedsim.runtime.simulation import backend_config, warm_ray_start

    global _CURRENT
    warm = warm_ray_start(cfg)
    if warm is not None:
        return warm
    with _LOCK:
        if _CURRENT is None:
            _CURRENT = RayStart(backend_config(cfg)["init_args"], _level(cfg))
        return _CURRENT


def take_ray_start(cfg: Mapping[str, Any]) -> RayStart:
    """Return the pending start (starting one if none), and forget it for later runs."""
    from fedsim.runtime.simulation import backend_config

    global _CURRENT
    wanted = backend_config(cfg)["init_args"]
    with _LOCK:
        start, _CURRENT = _CURRENT, None
    if start is not None and start.init_args != wanted:
        start.abandon()  # started for another config
        start = None
    if start is not None and start.found_ray_gone():
        start.release()  # it found a warm session's Ray, which has been shut down since
        start = None
    return start if start is not None else RayStart(wanted, _level(cfg))


def _level(cfg: Mapping[str, Any]) -> str:
    return str(cfg.get("log", {}).get("flwr_level", "ERROR"))


def abandon_ray_start() -> None:
    """Shut down a pending early start (bad input found after it began)."""
    global _CURRENT
    with _LOCK:
        start, _CURRENT = _CURRENT, None
    if start is not None:
        start.abandon()
