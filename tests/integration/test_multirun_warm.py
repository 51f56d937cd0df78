"""A multirun's jobs share one Ray session and actor pool, and each equals the same run alone.

The sweep runs ``seed=1,0`` x ``train.lr=0.2,0.05``: every job after the first comes on actors
that have just served another one - the same seed with another learning rate (the same data
and plan: only the settings differ), or another seed - and must give exactly what it gives
alone (computed here on the fake grid with the real ClientApp, which gives the same numbers
as Ray: client work is a function of (seed, round, client id) only). Anything that leaked
from one job into the next (the ClientApp still holding the last job's config, an actor cache
keyed too loosely, a shared client store) changes the later job's matrices.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import SMALL, cli_env
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration

KEYS = ("final", "final_central_acc", "federation_matrix", "central_matrix", "client_matrices",
        "bytes_total", "rejected_replies")


def test_sweep_shares_one_ray_session_and_equals_runs_alone(tmp_path):
    env = cli_env()
    env["RAY_TMPDIR"] = ray_tmp = tempfile.mkdtemp(prefix="fsray-", dir="/tmp")  # short path
    atexit.register(shutil.rmtree, ray_tmp, ignore_errors=True)
    res = subprocess.run(
        [sys.executable, "-m", "fedsim", "-m", *SMALL, "seed=1,0", "train.lr=0.2,0.05",
         f"output.root={tmp_path}"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sessions = [p for p in Path(ray_tmp).rglob("session_2*") if p.is_dir()]
    assert len(sessions) == 1, sessions  # one ray.init for the whole sweep
    swept = {}
    for path in tmp_path.rglob("summary.json"):
        cfg = yaml.safe_load((path.parent / "config.yaml").read_text())
        swept[cfg["seed"], cfg["train"]["lr"]] = json.loads(path.read_text())
    jobs = [(1, 0.2), (1, 0.05), (0, 0.2), (0, 0.05)]
    assert sorted(swept) == sorted(jobs)
    for seed, lr in jobs:
        _, alone = run_experiment(
            tmp_path / f"alone{seed}-{lr}", *SMALL, f"seed={seed}", f"train.lr={lr}"
        )
        for key in KEYS:
            assert swept[seed, lr][key] == alone[key], (seed, lr, key)
    assert swept[0, 0.2]["final"] != swept[1, 0.2]["final"]  # the seeds really differ
    assert swept[1, 0.2]["final"] != swept[1, 0.05]["final"]  # and so do the learning rates
