"""kill -9 midway + `fedsim resume` equals an uninterrupted run, bit for bit, on Ray.

Every family's resume is checked in-process on the fake grid
(``tests/server/test_resume_families.py``); here the richest family goes through the real
thing: ``fault_matrix_deadline`` (crashes, stragglers past a real round deadline, NaN updates,
sign flips, retries), and the finished run is then refused by a second ``fedsim resume``
(in-process for a prepared run directory too: ``tests/cli/test_resume.py``).

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

from fedsim.server.state import CHECKPOINT_NAME, checkpoint_round
from tests.conftest import cli_env
from tests.server.resume_cases import (
    BASE,
    FAMILIES,
    KILL_AT,
    central_scalars,
    comparable,
    differences,
    exercised,
)

pytestmark = pytest.mark.integration


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


def _resume(cut_dir: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fedsim", "resume", str(cut_dir)],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("family", ["fault_matrix_deadline"])
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
    exercised(family, want)
    got = json.loads((cut_dir / "summary.json").read_text())
    assert got["resumed_from_round"] == killed_after
    assert json.loads((cut_dir / "status.json").read_text())["state"] == "completed"
    print(f"{family}: killed after round {killed_after}; final {want['final']} / {got['final']}")
    assert got["final"] == want["final"]
    assert got["central_matrix"] == want["central_matrix"]
    assert got["federation_matrix"] == want["federation_matrix"]
    assert got["client_matrices"] == want["client_matrices"]
    assert comparable(got) == comparable(want), differences(comparable(got), comparable(want))[:5]
    # TensorBoard: one value per round, no duplicated steps, equal to the reference
    scalars = central_scalars(cut_dir)
    if scalars or want["final_central_acc"] is not None:
        assert [s for s, _ in scalars] == list(range(1, want["rounds"] + 1))
    assert scalars == central_scalars(ref_dir)
    if family == "fault_matrix_deadline":  # a finished run directory is never resumed
        again = _resume(cut_dir, tmp_path)
        _, err = again.communicate(timeout=300)
        assert again.returncode == 2 and "already completed" in err
