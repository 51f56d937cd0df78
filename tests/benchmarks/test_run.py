"""The benchmark harness runs and reports; a baseline run needs a checkout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env


def _bench(*args: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args],
        capture_output=True, text=True, cwd=REPO, env=cli_env(), timeout=300,
    )


@pytest.mark.integration  # a benchmark subprocess timing three rounds
def test_raw_loop_row_and_json(tmp_path):
    out = tmp_path / "r.json"
    res = _bench("--registered", "20", "--sampled", "5", "--models", "mlp", "--impls", "raw",
                 "--reps", "1", "--rounds", "3", "--json", str(out), tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "round 1 - steady s" in res.stdout
    doc = json.loads(out.read_text())
    row = doc["results"]["mlp|20|raw"][0]
    assert len(row["round_times"]) == 3 and row["peak_pss_gb"] > 0
    assert doc["machine"]["cores"] >= 1 and "PYTHONDONTWRITEBYTECODE" in doc["machine"]["env"]
    assert len(doc["load_after"]) == 3 and len(row["load_after"]) == 3
    assert row["first_round_extra_s"] == row["round_times"][0] - row["steady_round_s"]


def test_baseline_impl_needs_a_checkout(tmp_path, monkeypatch, capsys):
    """In-process: the argument check exits 2 before anything is timed."""
    from benchmarks import run

    argv = ["run", "--impls", "fedsim-baseline", "--baseline", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        run.main()
    assert info.value.code == 2 and "--baseline DIR" in capsys.readouterr().err


def test_env_variants_set_and_remove_flags_for_the_measured_process_only():
    from benchmarks.machine import env_for

    base = {"PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_CORETYPE": "Haswell", "PATH": "/bin"}
    assert env_for(None, base) == base
    assert env_for("clean", base) == {"PATH": "/bin"}
    assert env_for("no-bytecode", {"PATH": "/bin"}) == {"PATH": "/bin",
                                                        "PYTHONDONTWRITEBYTECODE": "1"}
    assert env_for("openblas-coretype", base) == {"PATH": "/bin", "OPENBLAS_CORETYPE": "Haswell"}
    assert base["PYTHONDONTWRITEBYTECODE"] == "1"  # the caller's environment is not changed


def test_spread_cell_is_median_min_max():
    from benchmarks.machine import cell, spread

    assert spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0, "n": 4}
    assert cell([0.5, 0.25, 2.0]) == "0.50 [0.25-2.00]"
    assert cell([0.5]) == "0.50"
