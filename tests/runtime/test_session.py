"""The simulation session: which jobs share it, and the ClientApp's config travelling by value."""

from __future__ import annotations

import pytest

from fedsim.runtime import simulation
from fedsim.runtime.session import JobConfig, session_key
from tests.conftest import SMALL, compose


class FakeSession:
    """Stands in for SimulationSession (no Ray): records its jobs and whether it was closed."""

    made: list[FakeSession] = []

    def __init__(self, cfg, num_nodes, ray_start):
        self.key = session_key(cfg, num_nodes)
        self.ray_start, self.jobs, self.closed, self.alive = ray_start, [], False, True
        FakeSession.made.append(self)

    def run(self, cfg, run_dir, *, resume=False):
        self.jobs.append(cfg["seed"])
        return {"seed": cfg["seed"]}

    def close(self):
        self.closed = True


@pytest.fixture
def fake_sessions(monkeypatch):
    from fedsim.runtime import ray_start, session

    FakeSession.made = []
    monkeypatch.setattr(session, "SimulationSession", FakeSession)
    monkeypatch.setattr(ray_start, "start_ray", lambda cfg: None)
    monkeypatch.setattr(ray_start, "take_ray_start", lambda cfg: object())
    yield FakeSession.made
    simulation._WARM.clear()


def test_a_sweep_reuses_its_session_and_a_single_run_closes_it(fake_sessions, tmp_path):
    for seed in (0, 1, 2):
        out = simulation.run_in_simulation(compose(*SMALL, f"seed={seed}"), tmp_path,
                                           keep_warm=True)
        assert out == {"seed": seed}
    assert len(fake_sessions) == 1 and fake_sessions[0].jobs == [0, 1, 2]
    assert not fake_sessions[0].closed
    simulation.close_warm_session()
    assert fake_sessions[0].closed and not simulation._WARM
    simulation.run_in_simulation(compose(*SMALL, "seed=3"), tmp_path)  # not a sweep
    assert len(fake_sessions) == 2 and fake_sessions[1].closed


def test_other_backend_settings_get_a_new_session(fake_sessions, tmp_path):
    simulation.run_in_simulation(compose(*SMALL), tmp_path, keep_warm=True)
    simulation.run_in_simulation(compose(*SMALL, "backend.client_cpus=2"), tmp_path,
                                 keep_warm=True)
    assert [s.closed for s in fake_sessions] == [True, False]


def test_a_dead_engine_is_not_kept(fake_sessions, tmp_path):
    simulation.run_in_simulation(compose(*SMALL), tmp_path, keep_warm=True)
    fake_sessions[0].alive = False
    simulation.run_in_simulation(compose(*SMALL), tmp_path, keep_warm=True)
    assert fake_sessions[0].closed and len(fake_sessions) == 2


def test_the_job_config_travels_by_value_with_the_client_app():
    """Ray pickles the ClientApp with every message: an actor sees the current job's config."""
    from ray import cloudpickle

    source = JobConfig({"seed": 1})
    handler = lambda ctx: source(ctx)["seed"]  # noqa: E731 - a closure, like the ClientApp's
    source.cfg = {"seed": 2}
    assert cloudpickle.loads(cloudpickle.dumps(handler))(None) == 2


def test_an_interrupted_job_does_not_make_close_wait_for_it():
    """Ctrl-C while a job runs: the session is closed without joining the busy engine thread."""
    import signal
    import threading

    from fedsim.runtime.session import SimulationSession

    class Start:
        released = False

        def wait(self):
            pass

        def release(self):
            Start.released = True

    busy = threading.Event()
    session = SimulationSession(compose(*SMALL), 2, Start())
    session._thread = threading.Thread(target=busy.wait, args=(10,), daemon=True)  # a long job
    session._thread.start()
    import _thread

    # interrupt_main() does nothing where SIGINT is ignored (pytest-xdist's workers ignore it):
    # Python's own Ctrl-C handler is installed for the test, as in a terminal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.3, _thread.interrupt_main).start()  # Ctrl-C while the job is waited for
        with pytest.raises(KeyboardInterrupt):
            session.run(compose(*SMALL), None)
    finally:
        signal.signal(signal.SIGINT, previous)
    session.close()  # returns at once instead of joining the busy thread
    assert Start.released and session._thread.is_alive()
    busy.set()
