"""Faults, deadlines and the min-replies policy in whole runs.

Fault kinds and the straggler deadline run the real ServerApp body and ClientApp on the fake grid
(injection, rejection and the deadline are the server's; stragglers are simulated time); the
``on_too_few=stop`` failure goes through the real command on Ray (exit code, status.json).
kill -9 + resume, per family, is in ``test_resume_families.py``.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.experiment import get_experiment
from fedsim.faults.models import FaultModel
from tests.conftest import SMALL, cli_env, compose
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration

REASON = {
    "crash": "injected crash",
    "nan": "NaN or Inf",
    "inf": "NaN or Inf",
    "wrong_shape": "has shape",
    "missing_key": "lacks key",
}


def run_cli(*args, cwd, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "fedsim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(),
        timeout=timeout,
    )


def only_run_dir(root: Path) -> Path:
    (run_dir,) = {p.parent for p in root.rglob("status.json")}
    return run_dir


def expected_faults(overrides):
    """(round, client) -> injected kind, recomputed from the config (cohort = all active)."""
    cfg = compose(*overrides)
    exp = get_experiment(cfg)
    params = {k: v for k, v in cfg["faults"].items() if k not in ("_target_", "name")}
    fm = FaultModel(seed=cfg["seed"], num_clients=exp.plan.num_clients, **params)
    out = {}
    for rnd in range(1, exp.num_rounds + 1):
        for cid in exp.plan.active_clients(rnd):
            kind = fm.kind_for(rnd, cid)
            if kind is not None:
                out[(rnd, cid)] = kind
    return out, fm


FAULTY = [
    "scenario.num_clients=6",
    "scenario.num_tasks=2",
    "scenario.rounds_per_task=2",
    "scenario.max_arrival_delay=1",
    "train.epochs=2",
    "log.progress=false",
    "seed=20",  # a seed whose plan draws every fault kind (asserted below)
    "strategy=fedmedian",
    "faults=corrupt",
    "+faults.crash=0.15",
    "+faults.unavailable=0.15",
    "faults.nan=0.1",
    "faults.inf=0.1",
    "faults.wrong_shape=0.1",
    "faults.missing_key=0.1",
    "+faults.adversarial_fraction=0.17",
]


def test_each_fault_kind_is_injected_rejected_and_logged(tmp_path):
    expected, fm = expected_faults(FAULTY)
    kinds = set(expected.values())
    assert {"crash", "unavailable", "nan", "inf", "wrong_shape", "missing_key"} <= kinds
    run_dir, summary = run_experiment(tmp_path, *FAULTY)
    rejected = {
        (e["round"], int(cid)): e["reason"]
        for cid, entries in summary["rejected_by_client"].items()
        for e in entries
    }
    # every bad reply was rejected with a reason naming its fault, and nothing else was
    bad = {k: v for k, v in expected.items() if v in REASON}
    assert set(rejected) == set(bad), (rejected, bad)
    for key, kind in bad.items():
        assert REASON[kind] in rejected[key], (key, kind, rejected[key])
    injected = {}
    for kind in expected.values():
        injected[kind] = injected.get(kind, 0) + 1
    assert summary["faults_injected"] == injected
    adversarial = injected.get("adversarial", 0)
    assert summary["rejected_replies"] == len(bad)
    history = {row["round"]: row for row in summary["history"]}
    for (rnd, cid), kind in expected.items():
        if kind == "unavailable":  # removed from the cohort: nothing sent, nothing rejected
            assert cid in history[rnd]["unavailable"]
    assert len(fm.adversaries) == 1 and adversarial > 0  # well-formed: accepted by validation
    for rnd, row in history.items():
        n_expected = sum(1 for (r, _), k in expected.items() if r == rnd and k in REASON)
        assert row["failures"] == n_expected
    assert summary["final"]["acc"] is not None
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    per_round = {e.step: e.value for e in acc.Scalars("faults/rejected_replies")}
    assert sum(per_round.values()) == len(bad)
    assert "faults/injected_crash" in acc.Tags()["scalars"]
    assert any(t.startswith("faults/rejected_clients") for t in acc.Tags()["tensors"])


STRAGGLERS = [
    "scenario.num_clients=4",
    "scenario.num_tasks=2",
    "scenario.rounds_per_task=2",
    "scenario.max_arrival_delay=0",  # all 4 clients train every round
    "train.epochs=2",
    "log.progress=false",
    "seed=56",
    "faults=stragglers",
    "faults.straggler=0.2",
    "faults.straggler_delay_s=30.5",  # replies 0.5 s after the deadline, 2 rounds before the end
    "federation.round_timeout=30",
    "federation.min_replies=4",
    "federation.on_too_few=retry",
]


def test_straggler_misses_deadline_retry_and_late_reply_dropped(tmp_path):
    expected, _ = expected_faults(STRAGGLERS)
    assert expected == {(2, 0): "straggler"}
    _, summary = run_experiment(tmp_path, *STRAGGLERS)
    row = {r["round"]: r for r in summary["history"]}[2]
    assert 0 in row["missing"]
    assert row["rejected"]["0"] == "no reply before the round deadline"
    assert 0 in row["retry"]["cohort"]  # re-sent once (full participation: the failed client)
    assert row["clients_trained"] <= 4
    # the straggler's reply arrived after the deadline and was dropped, never aggregated
    assert summary["late_replies_dropped"] >= 1


def test_too_few_replies_stop_is_one_clear_error(tmp_path):
    args = [*SMALL, "faults=crash", "faults.crash=1.0", "federation.on_too_few=stop"]
    res = run_cli(*args, f"output.root={tmp_path}", cwd=tmp_path)
    assert res.returncode == 1  # the run failed (2 is for bad input, before anything ran)
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("fedsim: error:")]
    assert len(lines) == 1 and "federation.min_replies=1" in lines[0], res.stderr[-2000:]
    assert "injected crash" in lines[0]
    run_dir = only_run_dir(tmp_path)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "failed"
    assert not (run_dir / "summary.json").exists()
