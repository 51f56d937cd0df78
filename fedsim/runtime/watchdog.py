"""A tiny process that kills a local Ray's helpers when the driver that started them dies.

Ray ties its GCS and raylet to the driver (``PR_SET_PDEATHSIG``), but the raylet's agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) notice the raylet's death and then wait
about a minute for the dead GCS before they exit. After ``ray.init``, fedsim records every
process the driver's Ray start created and hands the list to this watchdog, which blocks on
a pipe from the driver. The pipe closes when the driver exits for any reason (``kill -9``
included); the watchdog then kills the recorded processes that still exist (same pid *and*
start time, so a reused pid is never hit) and exits.

Run as ``python -m fedsim.runtime.watchdog PID:START_TIME ...``; stdin is the pipe.
"""

from __future__ import annotations

import os
import subprocess
import sys


def helper_processes() -> list[tuple[int, float]]:
    """(pid, start time) of this process's Ray descendants (daemons and agents)."""
    import psutil

    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            command = " ".join(proc.cmdline()[:2])
            if "ray" in command:  # gcs_server, raylet, ray::*, python .../ray/...
                out.append((proc.pid, proc.create_time()))
        except psutil.Error:
            continue
    return out


def start_watchdog(processes: list[tuple[int, float]]) -> subprocess.Popen | None:
    """Start the watchdog for ``processes``; keep the returned handle open while Ray runs."""
    if not processes or sys.platform == "win32":
        return None
    args = [f"{pid}:{start!r}" for pid, start in processes]
    return subprocess.Popen(
        [sys.executable, "-m", "fedsim.runtime.watchdog", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the terminal's group must not kill it first
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def stop_watchdog(handle: subprocess.Popen | None) -> None:
    """Ray was shut down normally: close the pipe (the watchdog checks and exits)."""
    if handle is None:
        return
    try:
        handle.stdin.close()  # type: ignore[union-attr]
        handle.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        handle.kill()


def kill_leftovers(processes: list[tuple[int, float]]) -> int:
    """SIGKILL the recorded processes that still run, and the raylet's later children.

    A recorded process counts only with its recorded start time; a process started later
    counts when it carries a recorded pid as ``RAY_RAYLET_PID`` (the raylet's agents and
    workers).
    """
    import psutil

    targets = []
    for pid, start in processes:
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - start) < 0.01:
                targets.append(proc)
        except psutil.Error:
            continue
    targets += _raylet_children(processes)
    for proc in targets:
        try:
            proc.kill()
        except psutil.Error:
            continue
    return len(targets)


def _raylet_children(processes: list[tuple[int, float]]) -> list:
    import psutil

    recorded = dict(processes)
    found = []
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            parent = int(proc.environ().get("RAY_RAYLET_PID", 0))
        except (psutil.Error, ValueError, OSError):
            continue
        if parent in recorded and proc.info["create_time"] >= recorded[parent]:
            found.append(proc)
    return found


def main(argv: list[str]) -> None:
    """Wait for the driver's end (EOF on stdin), then kill the recorded processes."""
    processes = []
    for item in argv:
        pid, _, start = item.partition(":")
        processes.append((int(pid), float(start)))
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, KeyboardInterrupt):
        pass
    kill_leftovers(processes)


if __name__ == "__main__":
    main(sys.argv[1:])
