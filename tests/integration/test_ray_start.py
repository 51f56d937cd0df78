"""Ray started early in a background thread: the daemons must outlive ``ray.init``'s return."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, cli_env

pytestmark = pytest.mark.integration


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(),
        timeout=150,
    )


def test_early_ray_stays_up_until_released():
    """The GCS and raylet are tied to the starting thread (PR_SET_PDEATHSIG): the thread lives on.

    If it ended after ``ray.init``, the GCS would be gone a moment later and the resource query
    below would fail (or hang until the subprocess times out).
    """
    res = _run(
        """
        import time
        import ray
        from tests.conftest import compose
        from fedsim.runtime.ray_start import start_ray, take_ray_start
        cfg = compose("backend.ray_num_cpus=1")
        start_ray(cfg)
        start = take_ray_start(cfg)
        start.wait()
        time.sleep(2.0)
        print("cpus", ray.cluster_resources().get("CPU"))
        ray.shutdown()
        start.release()
        print("released", start._thread.is_alive())
        """
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "cpus 1.0" in res.stdout and "released False" in res.stdout


def test_start_failure_is_one_line_naming_the_backend():
    res = _run(
        """
        from fedsim.errors import FedsimError
        from fedsim.runtime.ray_start import RayStart
        start = RayStart({"num_cpus": 1, "object_store_memory": 2**20})  # below Ray's minimum
        try:
            start.wait()
        except FedsimError as exc:
            print("ERR", exc)
        start.release()
        """
    )
    assert res.returncode == 0, res.stderr[-3000:]
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("ERR")]
    assert line and line[0].startswith("ERR backend: could not start/join a local Ray: ValueError")


def test_abandoned_start_shuts_ray_down():
    res = _run(
        """
        import ray
        from tests.conftest import compose
        from fedsim.runtime.ray_start import abandon_ray_start, start_ray
        start = start_ray(compose("backend.ray_num_cpus=1"))
        abandon_ray_start()
        print("initialised", ray.is_initialized(), "thread", start._thread.is_alive())
        """
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "initialised False thread False" in res.stdout


def test_release_shuts_down_a_ray_the_simulation_left_running():
    """If Flower failed before its backend existed, nobody else would shut this Ray down."""
    res = _run(
        """
        import ray
        from tests.conftest import compose
        from fedsim.runtime.ray_start import take_ray_start
        start = take_ray_start(compose("backend.ray_num_cpus=1"))
        start.wait()
        up = ray.is_initialized()
        start.release()
        print("was", up, "now", ray.is_initialized(), "thread", start._thread.is_alive())
        """
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "was True now False thread False" in res.stdout


def test_the_autoscaler_monitor_is_killed_before_shutdown_and_ray_still_works():
    """``stop_autoscaler``: the monitor of our own Ray is gone, the cluster still answers, the
    shutdown is clean, the actors are not touched, and a start that found Ray running leaves
    that Ray's monitor alone."""
    res = _run(
        """
        import ray
        from ray._private import ray_constants, worker
        from fedsim.runtime.ray_start import RayStart

        def monitor():
            return worker._global_node.all_processes[ray_constants.PROCESS_TYPE_MONITOR][0].process

        own = RayStart({"num_cpus": 1})
        own.wait()
        found = RayStart({"num_cpus": 1})  # finds the Ray above running: not its own
        found.wait()
        found.stop_autoscaler()
        print("after a foreign start", monitor().poll() is None)

        @ray.remote
        class Echo:
            def ping(self):
                return "pong"

        actor = Echo.remote()
        print("actor", ray.get(actor.ping.remote()))
        own.stop_autoscaler()
        print("monitor dead", monitor().poll() is not None)
        print("still up", ray.cluster_resources().get("CPU"), ray.get(actor.ping.remote()))
        found.release()
        own.release()
        print("shut down", not ray.is_initialized())
        """
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    assert "after a foreign start True" in out  # a Ray found running is left alone
    assert "actor pong" in out and "monitor dead True" in out
    assert "still up 1.0 pong" in out and "shut down True" in out
