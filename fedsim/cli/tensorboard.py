"""``fedsim tensorboard RUN_DIR [--port N]``: TensorBoard on 127.0.0.1 over one run or many.

The work is :mod:`fedsim.analysis.serve`; this module parses the command line, prints the URL
or the one-line error (exit 2) and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fedsim.analysis.runs import AnalysisError
from fedsim.analysis.serve import logdir_for, start
from fedsim.cli.main import fail


def tensorboard_main(args: list[str]) -> None:
    """Entry point of ``fedsim tensorboard``."""
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
