"""``fedsim suite run`` end to end: real runs, the table, and a second call that skips them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env

pytestmark = pytest.mark.integration

SUITE = """
name: it
version: 1
base: [+experiment=quick, train.epochs=1, scenario.num_clients=3]
seeds: [0, 1]
scenarios: {ci: []}
methods: {fedavg: [strategy=fedavg]}
metrics: [acc, forgetting, bytes_up]
"""


def _suite(args, env):
    return subprocess.run([sys.executable, "-m", "fedsim", "suite", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_suite_runs_cells_writes_table_and_skips_finished_cells(tmp_path):
    env = cli_env()
    path = tmp_path / "it.yaml"
    path.write_text(SUITE)
    out = tmp_path / "out"
    first = _suite(["run", str(path), "--out", str(out)], env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "2 to run" in first.stdout
    table = json.loads((out / "table.json").read_text())
    (row,) = table["rows"]
    assert row["runs"] == 2 and table["missing"] == []
    accs = [json.loads((out / "fedavg" / "ci" / f"seed{s}" / "summary.json").read_text())["final"]
            ["acc"] for s in (0, 1)]  # fmt: skip
    assert row["stats"]["acc"]["mean"] == pytest.approx(sum(accs) / 2)
    for name in ("table.md", "table.csv", "table.png"):
        assert (out / name).stat().st_size > 0
    second = _suite(["run", str(path), "--out", str(out)], env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "2 already done, 0 to run" in second.stdout
