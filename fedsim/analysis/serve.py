"""``fedsim tensorboard RUN_DIR [--port N]``: TensorBoard on 127.0.0.1 over one run or many.

``RUN_DIR`` may be one run directory (its ``tb/`` folder shows as run ``tb``), a Hydra multirun
directory or an ``output.root``: TensorBoard's logdir is ``RUN_DIR`` itself, so every run below
it appears as its own run, the HParams tab compares them in one table and the Custom Scalars
tab shows fedsim's layout. Serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fedsim.analysis.runs import AnalysisError


def logdir_for(path: Path) -> Path:
    """The logdir TensorBoard should read for ``path`` (fails when it holds no event files)."""
    if not path.is_dir():
        raise AnalysisError(f"'{path}' is not a directory")
    if next(path.rglob("events.out.tfevents.*"), None) is None:
        raise AnalysisError(f"no TensorBoard event files under '{path}' (is it a fedsim run?)")
    return path


def start(logdir: Path, port: int, host: str = "127.0.0.1") -> str:
    """Start TensorBoard's server in background threads of this process; return its URL."""
    from tensorboard import program

    tb = program.TensorBoard()
    tb.configure(argv=[None, "--logdir", str(logdir), "--host", host, "--port", str(port)])
    try:
        return tb.launch()
    except program.TensorBoardServerException as exc:
        raise AnalysisError(f"--port {port}: {exc.msg}") from exc


def tensorboard_main(args: list[str]) -> None:
    """Entry point of ``fedsim tensorboard``."""
    from fedsim.cli.main import fail

    p = argparse.ArgumentParser(
        prog="fedsim tensorboard",
        description="Start TensorBoard on 127.0.0.1 over a run or a directory of runs.",
    )
    p.add_argument("path", type=Path, metavar="RUN_DIR",
                   help="a run directory, a multirun directory or an output root")
    p.add_argument("--port", type=int, default=6006, help="port to serve on (default 6006)")
    ns = p.parse_args(args)
    if not 0 < ns.port < 65536:
        fail(f"--port: must be in 1..65535, got {ns.port}")
    try:
        url = start(logdir_for(ns.path), ns.port)
    except AnalysisError as exc:
        fail(str(exc))
    print(f"TensorBoard on {ns.path} at {url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("TensorBoard stopped", file=sys.stderr)
