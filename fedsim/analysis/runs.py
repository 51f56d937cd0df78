"""Finding and reading finished runs: ``config.yaml``, ``status.json``, ``summary.json``, events.

A run directory is one that holds ``config.yaml`` and ``status.json`` (what ``fedsim`` writes
before the first round). It is *complete* when ``status.json`` says ``completed`` and
``summary.json`` exists; otherwise it is still running, failed, or was killed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fedsim.errors import FedsimError
from fedsim.logging.hparams import flatten


class AnalysisError(FedsimError):
    """No usable run to analyse (the message says which directory and why)."""


@dataclass
class Series:
    """One scalar curve read back from an event file."""

    steps: np.ndarray
    values: np.ndarray


@dataclass
class Run:
    """One complete run: its resolved config, summary and scalar curves."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    scalars: dict[str, Series] = field(default_factory=dict)

    @property
    def flat_config(self) -> dict[str, Any]:
        """The config with dotted keys (``strategy.name`` ...)."""
        return flatten(self.config)

    @property
    def seed(self) -> Any:
        """The run's ``seed``."""
        return self.config.get("seed")


def _is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() and (path / "status.json").is_file()


def run_dirs(root: Path) -> list[Path]:
    """Run directories at or below ``root`` (hidden directories such as ``.hydra`` skipped)."""
    if _is_run_dir(root):
        return [root]
    found = []
    for here, dirs, _files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        p = Path(here)
        if p != root and _is_run_dir(p):
            found.append(p)
            dirs[:] = []  # a run's own subfolders (tb/) hold no further runs
    return sorted(found)


def run_state(path: Path) -> str:
    """``completed`` | ``running`` | ``failed`` (a completed state without summary: ``running``)."""
    try:
        status = json.loads((path / "status.json").read_text())
    except (OSError, ValueError):
        return "running"  # status.json is written atomically; unreadable means mid-write
    state = str(status.get("state", "running"))
    if state == "completed" and not (path / "summary.json").is_file():
        return "running"
    return state


def read_scalars(tb_dir: Path) -> dict[str, Series]:
    """Every scalar curve of a run's TensorBoard event files (last value per step)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for name in acc.Tags().get("scalars", []):
        by_step = {e.step: e.value for e in acc.Scalars(name)}
        steps = np.array(sorted(by_step), dtype=int)
        out[name] = Series(steps, np.array([by_step[s] for s in steps], dtype=float))
    return out


def load_run(path: Path) -> Run:
    """Read one complete run."""
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(OmegaConf.load(path / "config.yaml"), resolve=False)
    summary = json.loads((path / "summary.json").read_text())
    tb = path / "tb"
    scalars = read_scalars(tb) if tb.is_dir() else {}
    return Run(path=path, config=config, summary=summary, scalars=scalars)


def collect_runs(paths: list[Path], warn=None) -> list[Run]:
    """Load the complete runs at or below ``paths``.

    Incomplete runs (running, failed) are skipped with a ``warn(message)`` when at least one
    complete run exists; with none, :class:`AnalysisError` says why.
    """
    complete, incomplete = [], []
    for root in paths:
        if not root.is_dir():
            raise AnalysisError(f"'{root}' is not a directory")
        found = run_dirs(root)
        if not found:
            raise AnalysisError(
                f"no fedsim runs under '{root}' (a run directory holds config.yaml and "
                "status.json)"
            )
        for p in found:
            state = run_state(p)
            (complete if state == "completed" else incomplete).append((p, state))
    if not complete:
        p, state = incomplete[0]
        why = "is still in progress" if state == "running" else f"ended as '{state}'"
        raise AnalysisError(
            f"run '{p}' {why} (status.json / summary.json); no completed run to report"
        )
    for p, state in incomplete:
        if warn is not None:
            what = "still in progress" if state == "running" else state
            warn(f"skipping run '{p}': {what}")
    seen, runs = set(), []
    for p, _ in complete:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            runs.append(load_run(p))
    return runs
