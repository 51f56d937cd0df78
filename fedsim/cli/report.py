"""``fedsim report RUN_DIR [RUN_DIR ...] [--out DIR]``: compare finished runs.

The work is :func:`fedsim.analysis.report.build_report`; this module parses the command line,
prints warnings and the one-line error (exit 2) and the report's location.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fedsim.analysis.report import build_report
from fedsim.analysis.runs import AnalysisError
from fedsim.cli.main import fail


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fedsim report",
        description="Compare finished fedsim runs: a markdown table and PNG plots.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="RUN_DIR",
                   help="run directories or directories above them (e.g. a multirun directory)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: ./report-<UTC timestamp>)")
    return p


def report_main(args: list[str]) -> None:
    """Entry point of ``fedsim report``."""
    ns = _parser().parse_args(args)
    out = ns.out or Path(f"report-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")

    def warn(message: str) -> None:
        print(f"fedsim: warning: {message}", file=sys.stderr)

    try:
        data = build_report(list(ns.paths), out, warn=warn)
    except AnalysisError as exc:
        fail(str(exc))
    n = sum(len(g["runs"]) for g in data["groups"])
    print(f"report of {n} runs in {len(data['groups'])} groups: {out / 'report.md'}")
