"""The CLI's run: keep ``status.json`` true, print the final table, pick the exit code."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.api.runner import execute
from fedsim.cli.console import print_summary
from fedsim.cli.main import fail
from fedsim.errors import FedsimError
from fedsim.server.health import EXIT_CODES


def run_and_record(
    cfg: Mapping[str, Any],
    run_dir: Path,
    *,
    resume: bool = False,
    exit_unless_completed: bool = True,
    keep_warm: bool = False,
    **completed: Any,
) -> str:
    """Run the simulation in ``run_dir`` (:func:`fedsim.api.runner.execute`); print the table.

    A :class:`~fedsim.errors.FedsimError` becomes status ``failed`` plus one line on stderr and
    exit code 1 (in a multirun job: the state ``failed`` is returned and the sweep goes on); any
    other exception (or Ctrl-C) is recorded as ``failed`` and re-raised. A run
    that ends ``degraded`` (or ``failed`` by ``federation.degraded_policy``) prints its reason
    and exits 3 (or 1); see :mod:`fedsim.server.health`. With ``exit_unless_completed=False``
    (a multirun job) it returns the final state instead of exiting. ``keep_warm`` (a multirun
    job) keeps Ray, the actors and Flower's engine up for the next job
    (:func:`fedsim.runtime.simulation.run_in_simulation`).
    """
    try:
        result = execute(cfg, run_dir, resume=resume, keep_warm=keep_warm, **completed)
    except FedsimError as exc:
        if exit_unless_completed:
            fail(str(exc), code=EXIT_CODES["failed"])
        print(f"fedsim: error: {exc}", file=sys.stderr)  # a multirun goes on with its next job
        return "failed"
    state, reason = result.status, result.reason
    print_summary(result.summary, run_dir)
    if state != "completed":
        print(f"fedsim: run {state}: {reason}", file=sys.stderr)
        if exit_unless_completed:
            sys.exit(EXIT_CODES.get(state, 1))
    return state
