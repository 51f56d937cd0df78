"""A multirun goes on past a failed job and exits with the worst job's code."""

import json
import subprocess
import sys

import pytest

from tests.conftest import cli_env

pytestmark = pytest.mark.integration


def test_failed_job_does_not_end_the_sweep(tmp_path):
    args = [
        "-m",
        "scenario.num_clients=2",
        "scenario.num_tasks=1",
        "scenario.rounds_per_task=1",
        "scenario.max_arrival_delay=0",
        "train.epochs=1",
        "log.progress=false",
        "faults=crash",
        "faults.crash=1.0",  # every reply crashes: round 1 has too few replies
        "federation.on_too_few=stop",
        "seed=0,1",
        f"output.root={tmp_path}",
    ]
    res = subprocess.run(
        [sys.executable, "-m", "fedsim", *args],
        capture_output=True, text=True, cwd=tmp_path, env=cli_env(), timeout=600,
    )
    assert res.returncode == 1, res.stderr[-2000:]
    states = [json.loads(p.read_text())["state"] for p in tmp_path.rglob("status.json")]
    assert states == ["failed", "failed"]  # the second job ran although the first failed
    assert "2 of 2 runs not completed: failed, failed" in res.stderr
    assert res.stderr.count("fedsim: error: round 1:") == 2
