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
