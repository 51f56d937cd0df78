"""A multirun's jobs share one Ray session and actor pool, and each equals the same run alone.

The sweep runs ``seed=1,0``: the seed-0 job comes second, on actors that have just served
seed 1, and must give exactly what seed 0 gives alone (computed here on the fake grid with the
real ClientApp, which gives the same numbers as Ray: client work is a function of (seed,
round, client id) only). Anything that leaked from the first job into the second (the
ClientApp still holding job 1's config, an actor cache keyed too loosely, a shared client
store) changes the second job's matrices.
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
        [sys.executable, "-m", "fedsim", "-m", *SMALL, "seed=1,0", f"output.root={tmp_path}"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    sessions = [p for p in Path(ray_tmp).rglob("session_2*") if p.is_dir()]
    assert len(sessions) == 1, sessions  # one ray.init for the whole sweep
    swept = {}
    for path in tmp_path.rglob("summary.json"):
        seed = yaml.safe_load((path.parent / "config.yaml").read_text())["seed"]
        swept[seed] = json.loads(path.read_text())
    assert sorted(swept) == [0, 1]
    for seed in (1, 0):
        _, alone = run_experiment(tmp_path / f"alone{seed}", *SMALL, f"seed={seed}")
        for key in KEYS:
            assert swept[seed][key] == alone[key], (seed, key)
    assert swept[0]["final"] != swept[1]["final"]  # the seeds really differ
