"""The run directory: resolved config, status, TensorBoard logs, summary, checkpoint."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.server.reporter import write_json_atomic

HYDRA_LEFTOVERS = {".hydra", "fedsim.log", "main.log", "cli.log"}


def mark(run_dir: Path, state: str, **extra: Any) -> None:
    """Write ``status.json`` (``running`` | ``completed`` | ``degraded`` | ``failed``)."""
    write_json_atomic(run_dir / "status.json", {"state": state, "time": time.time(), **extra})


def write_config(run_dir: Path, cfg: Mapping[str, Any]) -> None:
    """Save the resolved config as ``config.yaml``."""
    from omegaconf import OmegaConf

    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(dict(cfg))))


def discard_if_unstarted(run_dir: Path) -> None:
    """Remove a run directory that holds nothing but Hydra's own files."""
    if run_dir.is_dir() and all(p.name in HYDRA_LEFTOVERS for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def run_and_record(
    cfg: Mapping[str, Any],
    run_dir: Path,
    *,
    resume: bool = False,
    exit_unless_completed: bool = True,
    **completed: Any,
) -> str:
    """Run the simulation in ``run_dir``; keep ``status.json`` true; print the final table.

    A :class:`~fedsim.errors.FedsimError` becomes status ``failed`` plus one line on stderr and
    exit code 1 (in a multirun job: the state ``failed`` is returned and the sweep goes on); any
    other exception (or Ctrl-C) is recorded as ``failed`` and re-raised. A run
    that ends ``degraded`` (or ``failed`` by ``federation.degraded_policy``) prints its reason
    and exits 3 (or 1); see :mod:`fedsim.server.health`. With ``exit_unless_completed=False``
    (a multirun job) it returns the final state instead of exiting.
    """
    import sys

    from fedsim.cli.main import fail
    from fedsim.console import print_summary
    from fedsim.errors import FedsimError
    from fedsim.runtime.simulation import run_in_simulation
    from fedsim.server.health import EXIT_CODES

    try:
        summary = run_in_simulation(cfg, run_dir, resume=resume)
    except FedsimError as exc:
        mark(run_dir, "failed", error=str(exc))
        if exit_unless_completed:
            fail(str(exc), code=EXIT_CODES["failed"])
        print(f"fedsim: error: {exc}", file=sys.stderr)  # a multirun goes on with its next job
        return "failed"
    except KeyboardInterrupt:
        mark(run_dir, "failed", error="interrupted")
        raise
    except Exception as exc:
        mark(run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    state = str(summary.get("status", "completed"))
    reason = summary.get("status_reason")
    mark(run_dir, state, **({"reason": reason} if reason else {}), **completed)
    print_summary(summary, run_dir)
    if state != "completed":
        print(f"fedsim: run {state}: {reason}", file=sys.stderr)
        if exit_unless_completed:
            sys.exit(EXIT_CODES.get(state, 1))
    return state
