"""A real local Ray head (`ray start --head` on 127.0.0.1) and a simulation that joins it."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fedsim.deployment.processes import executable, free_port, port_open, start, stop
from fedsim.runtime.simulation import backend_config, object_store_bytes
from tests.conftest import cli_env, compose
from tests.deployment.test_deployment import TINY


@pytest.fixture
def ray_head():
    """A Ray head in its own session and temp dir; stopped by process group afterwards."""
    # short path: Ray's socket paths must stay under 107 characters
    temp = Path(tempfile.mkdtemp(prefix="fedsim-rayhead-", dir="/tmp"))
    port = free_port()
    argv = [
        executable("ray"),
        "start",
        "--head",
        f"--port={port}",
        "--num-cpus=2",
        "--node-ip-address=127.0.0.1",
        "--disable-usage-stats",
        "--include-dashboard=false",
        f"--temp-dir={temp / 'ray'}",
        "--block",
    ]
    head = start("ray-head", argv, env=dict(os.environ), cwd=temp, log=temp / "head.log")
    try:
        deadline = time.monotonic() + 120
        while not port_open(port):
            assert head.alive() and time.monotonic() < deadline, head.log_tail()
            time.sleep(0.5)
        yield {"address": f"127.0.0.1:{port}", "temp": temp / "ray"}
    finally:
        stop(head)
        shutil.rmtree(temp, ignore_errors=True)  # no stale ray_current_cluster left behind


def test_joining_a_cluster_passes_no_resources():
    cfg = compose("backend=ray_cluster", "backend.ray_address=10.0.0.1:6379")
    init_args = backend_config(cfg)["init_args"]
    assert init_args["address"] == "10.0.0.1:6379"
    assert "num_cpus" not in init_args and "num_gpus" not in init_args
    assert "object_store_memory" not in init_args  # the cluster's own store


def test_local_ray_gets_a_bounded_object_store():
    expected = object_store_bytes(2048)
    assert backend_config(compose())["init_args"]["object_store_memory"] == expected
    assert 75 * 2**20 <= expected <= 2048 * 2**20
    assert object_store_bytes(10**9) < 10**9 * 2**20  # capped at 30% of this machine's RAM
    cfg = compose("backend.ray_object_store_mb=null")
    assert "object_store_memory" not in backend_config(cfg)["init_args"]


@pytest.mark.integration
def test_simulation_joins_existing_ray_cluster(ray_head, tmp_path):
    env = cli_env()
    env.pop("RAY_ADDRESS", None)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedsim.cli.main",
            "backend=ray_cluster",
            f"backend.ray_address={ray_head['address']}",
            *TINY,
            f"output.root={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (summary,) = tmp_path.rglob("summary.json")
    assert json.loads(summary.read_text())["rounds"] == 2
    # the driver and the client actors ran on *this* cluster, not on a fresh local Ray
    logs = ray_head["temp"] / "session_latest" / "logs"
    assert list(logs.glob("python-core-driver-*.log")), sorted(p.name for p in logs.iterdir())
    actors = [p for p in logs.glob("worker-*.out") if "ClientAppActor" in p.read_text()]
    assert actors, "no ClientAppActor ran on the cluster"
