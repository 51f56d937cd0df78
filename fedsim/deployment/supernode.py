"""``fedsim deploy supernode``: a Flower SuperNode with a long-lived ClientApp executor.

Starts ``flower-supernode ARGS --isolation process --port P`` (every argument is Flower's, but
``--idle-poll S`` and ``--reply-poll S``: :mod:`fedsim.deployment.fast_supernode`; ``--port`` is
the node's Runtime API, on loopback) and beside it one
:mod:`fedsim.deployment.warm_clientapp` executor serving that node, each in its own session.
It returns when either ends (or on SIGTERM / Ctrl-C) and then stops both by PID, so a node
never outlives its executor or the other way round. This is what a SuperNode machine runs
(docs/deployment.md); ``--isolation`` may not be given (it is ``process`` by construction).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fedsim.deployment.processes import Started, flower_env, free_port, start, stop

POLL_S = 0.5
FAST_SUPERNODE = (sys.executable, "-m", "fedsim.deployment.fast_supernode")


def supernode_argv(args: Sequence[str], port: int) -> list[str]:
    """``flower-supernode`` arguments: the user's, plus ``--isolation process --port``.

    Raises
    ------
    ValueError
        ``--isolation`` is given (this command is the process-isolation layout), or ``--port``
        is not a number.
    """
    args = list(args)
    if any(a == "--isolation" or a.startswith("--isolation=") for a in args):
        raise ValueError("--isolation: fedsim deploy supernode always runs --isolation process")
    for i, arg in enumerate(args):
        if arg == "--port":
            if i + 1 >= len(args) or not args[i + 1].isdigit():
                raise ValueError("--port: give the Runtime API port as a number")
            return [*FAST_SUPERNODE, *args, "--isolation", "process"]
    return [*FAST_SUPERNODE, *args, "--port", str(port), "--isolation", "process"]


def runtime_port(argv: Sequence[str]) -> int:
    """The ``--port`` value in a ``flower-supernode`` argument list."""
    return int(argv[list(argv).index("--port") + 1])


def run_supernode(args: Sequence[str], logs: Path) -> int:
    """Run the SuperNode and its executor until one ends; return the SuperNode's exit code."""
    import os

    argv = supernode_argv(args, free_port())
    env = flower_env(Path(os.environ.get("FLWR_HOME", Path.home() / ".flwr")))
    cwd = Path.cwd()
    node = start("supernode", argv, env=env, cwd=cwd, log=logs / "supernode.log")
    worker_argv = [sys.executable, "-m", "fedsim.deployment.warm_clientapp"]
    worker_argv += ["--runtime-api-address", f"127.0.0.1:{runtime_port(argv)}"]
    worker_argv += ["--parent-pid", str(node.pid)]
    worker = start("clientapp", worker_argv, env=env, cwd=cwd, log=logs / "clientapp.log")
    return _wait(node, worker)


def _wait(node: Started, worker: Started) -> int:
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    try:
        while node.alive() and worker.alive():
            time.sleep(POLL_S)
    finally:
        stop(worker)
        stop(node)
    return int(node.proc.returncode or 0)
