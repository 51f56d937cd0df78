"""Start and stop the processes of a local federation, each in its own session, by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fedsim.env import DEFAULTS as ENV_DEFAULTS

STOP_GRACE_S = 10.0


def executable(name: str) -> str:
    """Path of a console script of this Python environment (``flower-superlink``, ``flwr``)."""
    local = Path(sys.executable).parent / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"'{name}' not found next to {sys.executable} nor on PATH")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def flower_env(flwr_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a Flower process: own ``FLWR_HOME``, offline, no runtime installs."""
    env = dict(os.environ)
    for key, value in ENV_DEFAULTS.items():
        env.setdefault(key, value)
    env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] = "1"
    env["FLWR_HOME"] = str(flwr_home)
    # Flower's daemons start their helpers (flower-superexec, flwr-clientapp, ...) by name:
    # put this environment's scripts first on PATH, also when the venv is not activated.
    bindir = str(Path(sys.executable).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join([bindir, *rest])
    env.update(extra or {})
    return env


def run_flwr(flwr_home: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """Run the ``flwr`` CLI with its own ``FLWR_HOME`` (also its cwd); capture its output."""
    return subprocess.run(
        [executable("flwr"), *args],
        capture_output=True,
        text=True,
        env=flower_env(flwr_home),
        cwd=str(flwr_home),
        timeout=timeout,
    )


@dataclass
class Started:
    """A process this launcher started (leader of its own process group)."""

    name: str
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        """Process id (also the id of its process group)."""
        return self.proc.pid

    def alive(self) -> bool:
        """Whether it is still running."""
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of its log."""
        if not self.log.is_file():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start(
    name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
) -> Started:
    """Start ``argv`` in a new session (children stay in its group), logging to ``log``."""
    cwd.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=str(cwd),
            start_new_session=True,
        )
    return Started(name=name, proc=proc, log=log)


def _stat(pid: int | str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[tuple[int, str]]:
    """``(pid, start time)`` of every process below ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(entry.name)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: list[tuple[int, str]] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def stop(started: Started, grace_s: float = STOP_GRACE_S) -> None:
    """Stop a started process, its process group and its descendants.

    SIGTERM to the group first (Flower's servers shut their children down), SIGKILL after
    ``grace_s``; descendants that moved to groups of their own (``flower-superexec``) get
    SIGKILL by PID if they outlive their parent (the same process: PID and start time match).
    """
    below = descendants(started.pid)
    _stop_group(started, grace_s)
    for pid, started_at in below:
        fields = _stat(pid)
        if fields is None or fields[19] != started_at:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def processes_with_env(entry: str) -> list[tuple[int, str]]:
    """``(pid, start time)`` of this user's processes with a variable starting with ``entry``.

    ``entry`` is e.g. ``FLWR_HOME=/work/dir/`` (Linux ``/proc``; empty elsewhere).

    Every process a :class:`~fedsim.deployment.federation.LocalFederation` starts, and every
    process those start (Flower's ``flower-superexec``, ``flwr-serverapp``), inherits its
    ``FLWR_HOME``: this finds them also after their parent died and they were re-parented.
    """
    needle = entry.encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if environ.startswith(needle) or b"\0" + needle in environ:
            fields = _stat(proc.name)
            if fields is not None:
                found.append((int(proc.name), fields[19]))
    return found


def stop_strays(entry: str, grace_s: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace_s``, every process :func:`processes_with_env` finds.

    Returns the PIDs that were still running (each is signalled by PID, only while its start
    time is the one first seen, so a reused PID is never hit).
    """
    strays = processes_with_env(entry)
    alive = strays
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        for pid, _ in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + wait_s
        while True:
            alive = [(pid, at) for pid, at in alive if _running(pid, at)]
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    return [pid for pid, _ in strays]


def _running(pid: int, started_at: str) -> bool:
    """Whether ``pid`` is still the process started at ``started_at`` and not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[19] == started_at and fields[0] != "Z"


def _stop_group(started: Started, grace_s: float) -> None:
    pgid = started.pid  # start_new_session: the group id is the leader's pid
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if started.proc.poll() is not None and not _group_alive(pgid):
                break
            time.sleep(0.1)
        else:
            continue
        break
    if started.proc.poll() is None:
        started.proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
