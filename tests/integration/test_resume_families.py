"""kill -9 midway + `fedsim resume` equals an uninterrupted run, bit for bit, for every family.

Each case starts the uninterrupted reference run and the run to be killed side by side (two
real Flower simulations on Ray), SIGKILLs the second one's process group (the driver and the
Ray it started, nothing else) once its checkpoint holds round ``KILL_AT``, resumes it with
``fedsim resume RUN_DIR`` and compares every result in ``summary.json`` — CL metrics,
central/federation/client accuracy matrices, rejected replies, injected faults, bytes, late
replies and the whole per-round history — except wall-clock times.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.server.state import CHECKPOINT_NAME, checkpoint_round
from tests.conftest import cli_env

pytestmark = pytest.mark.integration

BASE = [
    "scenario.num_clients=4",
    "scenario.num_tasks=2",
    "scenario.rounds_per_task=2",
    "scenario.max_arrival_delay=0",
    "train.epochs=1",
    "log.progress=false",
    "backend.ray_num_cpus=1",  # one actor per run: the two side-by-side runs share 2 cores
]
KILL_AT = 2  # rounds in the checkpoint before the kill (of 4)

FAMILIES = {
    "fedrecon": ["strategy=fedrecon", "strategy.base_rounds=1", "seed=1"],
    "fedproto": [
        "strategy=fedproto",
        "model.hidden=[64]",
        "strategy.client_models=[{hidden:[64]},{hidden:[128,64]}]",
        "seed=2",
    ],
    "adapter_bank": ["strategy=adapter_split", "strategy.backbone.epochs=2", "seed=3"],
    "fedadam_fedhyper_gm": [
        "strategy=fedadam",
        "lr=fedhyper_gm",
        "faults=crash",
        "faults.crash=0.2",
        "seed=3",
    ],
    "client_and_data_curriculum": [
        "selection=client_curriculum",
        "curriculum=data_curriculum",
        "federation.fraction_train=0.5",
        "scenario.rounds_per_task=3",
        "seed=4",
    ],
    # FCL baselines: Fisher + anchor tensors and exemplar index lists in the client store
    "fedewc": ["strategy=fedewc", "strategy.fisher_samples=32", "seed=5"],
    "replay_herding": [
        "strategy=replay", "strategy.selection=herding", "strategy.budget=16", "seed=6",
    ],
    # +experiment=fault_matrix: crashes, stragglers, NaN updates, sign-flipping clients and a
    # round deadline the stragglers miss (timeout and delay raised together, so a healthy
    # client on a loaded machine never comes near the deadline; stragglers still miss it)
    "fault_matrix_deadline": [
        "+experiment=fault_matrix",
        "federation.round_timeout=60",
        "faults.straggler_delay_s=90",
        "faults.adversarial_fraction=0.25",  # 1 of the 4 clients
        "seed=12",  # draws every fault kind; a straggler misses round 1; rounds 3-4 retry
    ],
}
WALL_CLOCK = {"wall_time_s", "tensorboard_dir", "resumed_from_round"}


def _cli(args, root, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "fedsim", *args, f"output.root={root}"],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _run_dir(root: Path) -> Path:
    (run_dir,) = {p.parent for p in root.rglob("status.json")}
    return run_dir


def _kill_at(proc: subprocess.Popen, root: Path, rnd: int) -> int | None:
    """SIGKILL ``proc``'s process group once a checkpoint under ``root`` holds ``rnd``."""
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            found = list(root.rglob(CHECKPOINT_NAME))
            got = checkpoint_round(found[0]) if found else None
            if got is not None and got >= rnd:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                return got
            time.sleep(0.02)
        return None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


def _comparable(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if k not in WALL_CLOCK}
    out["history"] = [{k: v for k, v in r.items() if k != "round_time_s"} for r in out["history"]]
    return out


def _differences(a, b, path: str = "") -> list[str]:
    """Paths (and values) where two JSON values differ, for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in _differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: resumed {a!r} != uninterrupted {b!r}"]


def _central_scalars(run_dir: Path) -> list:
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    if "accuracy/central_mean" not in acc.Tags()["scalars"]:  # FedProto: no global model
        return []
    return [(e.step, e.value) for e in acc.Scalars("accuracy/central_mean")]


def _exercised(family: str, summary: dict) -> None:
    """The reference run really used what the family is about, before and after the kill."""
    history = summary["history"]
    if family == "fault_matrix_deadline":
        assert {"straggler", "crash", "nan", "adversarial"} <= set(summary["faults_injected"])
        early = [r for r in history if r["round"] <= KILL_AT]
        assert any(r.get("missing") for r in early), "no straggler missed the deadline early"
        assert summary["late_replies_dropped"] >= 1
    elif family == "client_and_data_curriculum":
        assert all("sweep" in r["selection_why"] for r in history)
        assert any(0 < r["curriculum"].get("curriculum-pool", 0) < 1 for r in history)
    elif family == "fedadam_fedhyper_gm":
        assert summary["faults_injected"].get("crash", 0) >= 1
        assert len({r.get("lr/server") for r in history} - {None}) > 1  # its state evolves


def _resume(cut_dir: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fedsim", "resume", str(cut_dir)],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("family", list(FAMILIES))
def test_kill_minus_9_then_resume_equals_uninterrupted(tmp_path, family):
    args = [*BASE, *FAMILIES[family]]
    ref_root, cut_root = tmp_path / "ref", tmp_path / "cut"
    ref = _cli(args, ref_root, cwd=tmp_path)
    cut = _cli(args, cut_root, cwd=tmp_path, start_new_session=True)  # its own process group
    killed_after = _kill_at(cut, cut_root, KILL_AT)
    assert killed_after is not None, "the run ended before the kill"
    cut_dir = _run_dir(cut_root)
    assert not (cut_dir / "summary.json").exists()
    assert json.loads((cut_dir / "status.json").read_text())["state"] == "running"
    resumed = _resume(cut_dir, tmp_path)  # while the reference finishes
    _, ref_err = ref.communicate(timeout=900)
    _, res_err = resumed.communicate(timeout=900)
    assert ref.returncode == 0, ref_err[-3000:]
    assert resumed.returncode == 0, res_err[-3000:]
    ref_dir = _run_dir(ref_root)
    want = json.loads((ref_dir / "summary.json").read_text())
    assert killed_after < want["rounds"], "the run ended before the kill"
    _exercised(family, want)
    got = json.loads((cut_dir / "summary.json").read_text())
    assert got["resumed_from_round"] == killed_after
    assert json.loads((cut_dir / "status.json").read_text())["state"] == "completed"
    print(f"{family}: killed after round {killed_after}; final {want['final']} / {got['final']}")
    assert got["final"] == want["final"]
    assert got["central_matrix"] == want["central_matrix"]
    assert got["federation_matrix"] == want["federation_matrix"]
    assert got["client_matrices"] == want["client_matrices"]
    assert _comparable(got) == _comparable(want), _differences(_comparable(got), _comparable(want))[
        :5
    ]
    # TensorBoard: one value per round, no duplicated steps, equal to the reference
    scalars = _central_scalars(cut_dir)
    if scalars or want["final_central_acc"] is not None:
        assert [s for s, _ in scalars] == list(range(1, want["rounds"] + 1))
    assert scalars == _central_scalars(ref_dir)
    if family == "fedrecon":  # a finished run directory is never resumed (overwritten)
        again = _resume(cut_dir, tmp_path)
        _, err = again.communicate(timeout=300)
        assert again.returncode == 2 and "already completed" in err
