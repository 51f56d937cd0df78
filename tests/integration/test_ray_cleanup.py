"""Ray's helper processes die with a killed driver; a killed client actor does not spoil a run.

Only processes this test started are looked at or killed: the descendants of the ``fedsim``
driver it spawned (snapshot taken just before the kill).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import SMALL, cli_env

pytestmark = pytest.mark.integration

LONG = [*SMALL, "scenario.rounds_per_task=15", "train.epochs=20"]


def start_run(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = cli_env()
    # this run's own Ray session directory, short: Ray's socket paths must fit 107 bytes
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="fsray-", dir="/tmp")
    atexit.register(shutil.rmtree, env["RAY_TMPDIR"], ignore_errors=True)
    with open(tmp_path / "stdout.txt", "w") as out, open(tmp_path / "stderr.txt", "w") as err:
        return subprocess.Popen(  # files, not pipes: a full pipe would stall the driver
            [sys.executable, "-m", "fedsim", *args, f"output.root={tmp_path / 'runs'}"],
            stdout=out,
            stderr=err,
            text=True,
            cwd=tmp_path,
            env=env,
        )


def stderr_tail(tmp_path: Path) -> str:
    return (tmp_path / "stderr.txt").read_text()[-3000:]


def ray_descendants(pid: int) -> list[psutil.Process]:
    """Every live descendant of ``pid``; one that exits during the walk is skipped (a
    recursive ``children()`` would give up on the whole tree)."""
    try:
        todo = [psutil.Process(pid)]
    except psutil.NoSuchProcess:
        return []
    out: list[psutil.Process] = []
    while todo:
        try:
            kids = todo.pop().children()
        except psutil.Error:
            continue
        out += kids
        todo += kids
    return out


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def actors(pid: int) -> list[psutil.Process]:
    return [p for p in ray_descendants(pid) if _name(p).startswith("ray::ClientAppActor")]


def _name(p: psutil.Process) -> str:
    try:
        first = (p.cmdline() or [""])[0]
        return first if first.startswith("ray::") else p.name()
    except psutil.Error:
        return ""


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def kill_all(procs: list[psutil.Process]) -> None:
    for p in alive(procs):
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def round_reached(run_root: Path, rnd: int) -> bool:
    from fedsim.server.state import CHECKPOINT_NAME, checkpoint_round

    for ckpt in run_root.rglob(CHECKPOINT_NAME):
        try:
            return (checkpoint_round(ckpt) or 0) >= rnd
        except Exception:  # noqa: BLE001 - written while we read
            return False
    return False


def test_killed_driver_leaves_no_ray_helpers(tmp_path):
    proc = start_run(tmp_path, *LONG)
    procs: list[psutil.Process] = []
    try:
        wait_for(lambda: actors(proc.pid) or proc.poll() is not None, 240, "the client actors")
        assert proc.poll() is None, stderr_tail(tmp_path)
        procs = ray_descendants(proc.pid)
        names = sorted({_name(p) for p in procs})
        assert any("raylet" in n for n in names), names
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        t0 = time.monotonic()
        while alive(procs) and time.monotonic() - t0 < 10:
            time.sleep(0.1)
        left = {_name(p) for p in alive(procs)}
        print(f"ray helpers gone {time.monotonic() - t0:.1f} s after kill -9; left: {left}")
        assert not left, f"still alive 10 s after the driver's kill -9: {sorted(left)}"
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_all(procs)


def run_killing_one_actor(tmp_path: Path, *extra: str) -> tuple[int, dict, dict, float]:
    """Start a run, SIGKILL one of its ClientAppActors after round 2; return its outcome."""
    proc = start_run(tmp_path, *LONG, "output.checkpoint_every=1", *extra)
    try:
        wait_for(
            lambda: round_reached(tmp_path / "runs", 2) or proc.poll() is not None,
            300,
            "round 2",
        )
        assert proc.poll() is None, stderr_tail(tmp_path)
        victim = wait_for(lambda: actors(proc.pid), 60, "a client actor")[0]
        victim.kill()  # one actor process of *this* run
        killed_at = time.monotonic()
        rc = proc.wait(timeout=600)
        waited = time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            proc.kill()
    (run_dir,) = {p.parent for p in (tmp_path / "runs").rglob("status.json")}
    status = json.loads((run_dir / "status.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    return rc, status, summary, waited


def test_killed_actor_is_restarted_and_the_same_clients_train(tmp_path):
    rc, status, summary, waited = run_killing_one_actor(tmp_path)
    print(f"run ended {waited:.1f} s after the actor's kill: rc={rc}, status={status}")
    assert rc == 0, stderr_tail(tmp_path)
    assert status["state"] == "completed"
    assert summary["health"]["replies_rejected_unexpectedly"] == 0, summary["health"]
    for row in summary["history"]:  # every selected client trained in every round
        assert not row.get("rejected"), row
        assert not row.get("skipped"), row


def test_unreplaced_dead_actor_ends_degraded_with_exit_3(tmp_path):
    rc, status, summary, _ = run_killing_one_actor(
        tmp_path, "backend.actor_max_restarts=0", "federation.max_fraction_rejected=0"
    )
    print(f"rc={rc}, status={status}")
    assert rc == 3, stderr_tail(tmp_path)
    assert status["state"] == summary["status"] == "degraded"
    assert "rejected" in status["reason"] and "federation.max_fraction_rejected" in status["reason"]
    assert "from a dead Ray actor" in status["reason"]
    assert summary["health"]["replies_rejected_unexpectedly"] > 0
    lines = [ln for ln in stderr_tail(tmp_path).splitlines() if ln.startswith("fedsim: run")]
    assert lines and "degraded" in lines[-1]
