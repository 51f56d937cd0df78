"""A real run with the run-time task curriculum: decisions reach the server's client store."""

import json
import subprocess
import sys

import pytest
import yaml

from fedsim.server_state import load_checkpoint
from tests.conftest import cli_env

pytestmark = pytest.mark.integration


def test_runtime_task_order_in_a_real_run(tmp_path):
    args = [
        "scenario.num_clients=3",
        "scenario.num_tasks=3",
        "scenario.rounds_per_task=1",
        "scenario.max_arrival_delay=0",
        "train.epochs=1",
        "log.progress=false",
        "curriculum=tasks_runtime",
        f"output.root={tmp_path}",
    ]
    res = subprocess.run(
        [sys.executable, "-m", "fedsim.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(),
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = [p.parent for p in tmp_path.rglob("summary.json")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rounds"] == 3 and summary["rejected_replies"] == 0
    store = load_checkpoint(run_dir / "checkpoint.npz")["store"]["config"]
    assert sorted(store) == [0, 1, 2]
    for cfg in store.values():
        assert sorted(cfg["curriculum.decided-positions"]) == [0, 1, 2]
    # the realised order is in the config the run recorded and the client matrices are full
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["curriculum"]["name"] == (
        "tasks_runtime"
    )
    for matrix in summary["client_matrices"].values():
        assert all(row[i] is not None for i, row in enumerate(matrix))
