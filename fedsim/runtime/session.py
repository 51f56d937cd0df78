"""One Flower simulation that serves several runs: a sweep pays Ray's and the actors' start once.

``flwr.simulation.run_simulation`` starts an engine (threads, a link state, an actor pool) and
tears all of it down, Ray included, when its ServerApp returns: ~3 s of ``ray.init`` and actor
start before round 1 and ~2 s of engine teardown after the last round, for every run. A
:class:`SimulationSession` instead keeps one ``run_simulation`` alive in a background thread
whose ServerApp body takes *jobs* (a resolved config and a run directory) from a queue and runs
each with :func:`fedsim.server.app.run_server`, one after the other, until the session is
closed. A Hydra multirun (``fedsim -m ...``) keeps its session warm between jobs
(:func:`fedsim.runtime.simulation.run_in_simulation` with ``keep_warm=True``); a single run
opens a session and closes it after its one job, which is exactly the former one-shot path.

Why a run inside a session equals the same run alone (same seed => same metrics):

* everything a run's numbers depend on is rebuilt per job on the driver: ``run_server``
  builds the strategy, LR controller, selection, faults and a fresh :class:`ServerState`
  (client store, accuracy book, RNG state) from the job's config;
* the ClientApp reads its config from a :class:`JobConfig` that the session sets before each
  job; Ray pickles the ClientApp (and so the holder, by value) with every message, so an actor
  always trains with the config of the job whose message it holds;
* actors keep only immutable, config-keyed caches (the experiment of a config, model
  templates with the RNG state a fresh build leaves, the decoded global model by identity) and
  seed every client's training from (run seed, round, client id) - exactly what already makes
  a run independent of which actor serves which client in which round;
* the Flower nodes are shared, but in simulation a client's state travels with the message
  from the server's store, never in a node's ``context.state``.

A session is reused only by a job with the same Ray arguments, client resources and Flower
node count (:func:`session_key`); another job closes it and opens a new one.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedsim.errors import FedsimError

_STOP = None  # the job that ends the session's ServerApp


class JobConfig:
    """The config of the job a session is running; the ClientApp's config source.

    An instance (not a module global) so that Ray pickles its current value, by value, with
    every message it ships to an actor.
    """

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.cfg = cfg

    def __call__(self, _context: Any) -> Mapping[str, Any]:
        """The current job's resolved config (a ``ConfigSource`` of the ClientApp)."""
        return self.cfg


@dataclass
class Job:
    """One run handed to a session: its config, run directory and outcome."""

    cfg: Mapping[str, Any]
    run_dir: Path
    resume: bool = False
    summary: dict[str, Any] | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def session_key(cfg: Mapping[str, Any], num_nodes: int) -> str:
    """What a session is built from: Ray/actor settings, node count, packing, log level."""
    from fedsim.runtime.simulation import backend_config, max_messages

    return json.dumps(
        [backend_config(cfg), num_nodes, max_messages(cfg), cfg["log"]["flwr_level"]],
        sort_keys=True, default=str,
    )


class SimulationSession:
    """A Flower simulation on Ray that runs queued jobs until :meth:`close`.

    Parameters
    ----------
    cfg : Mapping
        The plain resolved config of the first job (backend settings, node count).
    num_nodes : int
        Flower nodes to register (:func:`fedsim.runtime.simulation.num_flower_nodes`).
    ray_start : fedsim.runtime.ray_start.RayStart
        The (pending) Ray start this session owns; released when the session ends.
    """

    def __init__(self, cfg: Mapping[str, Any], num_nodes: int, ray_start: Any) -> None:
        self.key = session_key(cfg, num_nodes)
        self.ray_start = ray_start
        self.jobs_run = 0
        self._cfg = cfg
        self._num_nodes = num_nodes
        self._source = JobConfig(cfg)
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._engine_error: BaseException | None = None
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._interrupted = False

    def _start(self) -> None:
        self.ray_start.wait()  # Flower's backend finds Ray initialised and reuses it
        self._thread = threading.Thread(
            target=self._simulate, name="fedsim-simulation", daemon=True
        )
        self._thread.start()

    def _simulate(self) -> None:
        import warnings

        from fedsim.client.app import build_client_app
        from fedsim.runtime import engine_poll
        from fedsim.runtime.simulation import backend_config

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from flwr.simulation import run_simulation
        engine_poll.install()  # messages reach the actors without Flower's 0.1 s sweep wait
        try:
            run_simulation(
                server_app=self._server_app(),
                client_app=build_client_app(self._source),
                num_supernodes=self._num_nodes,
                backend_name="ray",
                backend_config=backend_config(self._cfg),
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting job(s)
            self._engine_error = exc
        finally:
            self._ended.set()
            self._fail_pending()

    def _server_app(self):
        from flwr.app import Context
        from flwr.serverapp import Grid, ServerApp

        from fedsim.transport.signalled_grid import SignalledGrid

        app = ServerApp()

        @app.main()
        def main(grid: Grid, context: Context) -> None:
            grid = SignalledGrid(grid)  # woken by the engine instead of polling (engine_poll)
            while (job := self._jobs.get()) is not _STOP:
                self._run_job(job, grid)

        return app

    def _run_job(self, job: Job, grid: Any) -> None:
        from fedsim.runtime.simulation import max_messages
        from fedsim.server.app import run_server

        self._source.cfg = job.cfg
        try:
            job.summary = run_server(
                job.cfg, grid, job.run_dir, max_messages=max_messages(job.cfg),
                resume=job.resume,
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the job's own thread
            job.error = exc
        finally:
            self.jobs_run += 1
            job.done.set()

    def _fail_pending(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                job.done.set()

    def run(self, cfg: Mapping[str, Any], run_dir: Path, *, resume: bool = False) -> dict:
        """Run one job (blocking) and return its summary; its exception is re-raised here."""
        if self._thread is None:
            self._start()
        if self._ended.is_set():
            raise FedsimError(self._ended_message())
        job = Job(cfg=cfg, run_dir=run_dir, resume=resume)
        self._jobs.put(job)
        try:
            while not job.done.wait(0.5):
                if self._ended.is_set() and not job.done.is_set():
                    break
        except BaseException:  # Ctrl-C while the job runs: close() must not wait for it
            self._interrupted = True
            raise
        if job.error is not None:
            raise job.error
        if job.summary is None:
            raise FedsimError(self._ended_message())
        return job.summary

    @property
    def alive(self) -> bool:
        """True while the engine runs (or has not started): the session can take a job."""
        return not self._ended.is_set()

    def _ended_message(self) -> str:
        if self._engine_error is not None:
            exc = self._engine_error
            return f"the simulation engine stopped: {type(exc).__name__}: {exc}"
        return "the simulation ended without running the ServerApp (see the log above)"

    def close(self) -> None:
        """End the ServerApp, let Flower tear its engine and Ray down, release the Ray start."""
        try:
            if self._thread is not None and not self._interrupted:
                self.ray_start.stop_autoscaler()  # saves ray.shutdown's 1 s wait on it
                self._jobs.put(_STOP)
                self._thread.join()
        finally:  # interrupted: the engine thread is a daemon and ends with the process
            self.ray_start.release()
