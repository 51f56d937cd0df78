"""The run directory: resolved config, status, TensorBoard logs, summary, checkpoint."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.reporting import write_json_atomic

HYDRA_LEFTOVERS = {".hydra", "fedsim.log", "main.log", "cli.log"}


def mark(run_dir: Path, state: str, **extra: Any) -> None:
    """Write ``status.json`` (``running`` | ``completed`` | ``failed``)."""
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
    cfg: Mapping[str, Any], run_dir: Path, *, resume: bool = False, **completed: Any
) -> None:
    """Run the simulation in ``run_dir``; keep ``status.json`` true; print the final table.

    A :class:`~fedsim.errors.FedsimError` becomes status ``failed`` plus one line on stderr and
    exit code 2; any other exception (or Ctrl-C) is recorded as ``failed`` and re-raised.
    """
    from fedsim.cli import fail
    from fedsim.console import print_summary
    from fedsim.errors import FedsimError
    from fedsim.runtime.simulation import run_in_simulation

    try:
        summary = run_in_simulation(cfg, run_dir, resume=resume)
    except FedsimError as exc:
        mark(run_dir, "failed", error=str(exc))
        fail(str(exc))
    except KeyboardInterrupt:
        mark(run_dir, "failed", error="interrupted")
        raise
    except Exception as exc:
        mark(run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    mark(run_dir, "completed", **completed)
    print_summary(summary, run_dir)
