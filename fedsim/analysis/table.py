"""The comparison table: one row per group, mean +- std over seeds, from ``summary.json``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedsim.analysis.groups import Group, mean_std, mean_std_cell
from fedsim.analysis.runs import Run


@dataclass(frozen=True)
class Column:
    """A table column: header, how to read a run's value, how to print it."""

    key: str
    header: str
    read: Callable[[Run], float | None]
    scale: float = 1.0
    digits: int = 4


def _final(name: str) -> Callable[[Run], float | None]:
    return lambda run: (run.summary.get("final") or {}).get(name)


def _best_central(run: Run) -> float | None:
    """``best_central_acc``; for runs written before it existed, the central matrix's best row."""
    if run.summary.get("best_central_acc") is not None:
        return run.summary["best_central_acc"]
    rows = [r for r in run.summary.get("central_matrix") or [] if r]
    means = [sum(r) / len(r) for r in rows if all(v is not None for v in r)]
    return max(means) if means else None


COLUMNS = (
    Column("acc", "ACC", _final("acc")),
    Column("forgetting", "forgetting", _final("forgetting")),
    Column("bwt", "BWT", _final("bwt")),
    Column("fwt", "FWT", _final("fwt")),
    Column("global_acc", "global model acc (last round)",
           lambda r: r.summary.get("final_central_acc")),
    Column("global_best", "global model acc (best round)", lambda r: _best_central(r)),
    Column("global_boundary", "global model acc (final task boundary)",
           lambda r: r.summary.get("boundary_central_acc")),
    Column("bytes", "bytes (MB)", lambda r: r.summary.get("bytes_total"), 1e-6, 3),
    Column("wall_time", "wall time (s)", lambda r: r.summary.get("wall_time_s"), 1.0, 1),
)


def group_stats(group: Group) -> dict[str, dict[str, float]]:
    """``{column key: {"mean", "std", "n"}}`` of a group (values unscaled)."""
    out = {}
    for col in COLUMNS:
        mean, std, n = mean_std([col.read(r) for r in group.runs])
        out[col.key] = {"mean": mean, "std": std, "n": n}
    return out


def _cell(stats: dict[str, float], col: Column, runs: int) -> str:
    one = stats if runs > 1 else {**stats, "n": min(stats["n"], 1)}  # one seed: no ± 0
    return mean_std_cell(one, col.scale, col.digits)


def markdown_table(groups: list[Group]) -> str:
    """The group table; cells are ``mean ± std`` when a group ran with several seeds."""
    head = ["id", "run group", "seeds", *(c.header for c in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in groups:
        stats = group_stats(g)
        cells = [_cell(stats[c.key], c, len(g.runs)) for c in COLUMNS]
        seeds = ", ".join(str(s) for s in g.seeds)
        if g.duplicates:
            seeds += f" (+{len(g.duplicates)} duplicate{'s' * (len(g.duplicates) > 1)})"
        lines.append("| " + " | ".join([g.ident, g.label, seeds, *cells]) + " |")
    return "\n".join(lines)


def _short(path: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            rel = path.resolve().relative_to(root.resolve())
        except ValueError:
            continue
        return str(Path(root.name) / rel) if str(rel) != "." else root.name
    return str(path)


def runs_table(groups: list[Group], roots: list[Path] = ()) -> str:
    """One row per run, with its directory (the raw numbers behind the group table).

    Directories are shown relative to the parent of the ``roots`` they were found under.
    """
    head = ["id", "seed", *(c.header for c in COLUMNS), "run directory"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in groups:
        for r in [*g.runs, *g.duplicates]:
            seed = str(r.seed) if r in g.runs else f"{r.seed} (duplicate, not averaged)"
            cells = []
            for c in COLUMNS:
                v = c.read(r)
                ok = v is not None and math.isfinite(float(v))
                cells.append(f"{float(v) * c.scale:.{c.digits}f}" if ok else "n/a")
            where = f"`{_short(r.path, list(roots))}`"
            lines.append("| " + " | ".join([g.ident, seed, *cells, where]) + " |")
    return "\n".join(lines)


def report_data(groups: list[Group]) -> dict[str, Any]:
    """Machine-readable numbers of the report (``report.json``)."""
    return {
        "columns": {c.key: c.header for c in COLUMNS},
        "groups": [
            {
                "id": g.ident,
                "label": g.label,
                "seeds": g.seeds,
                "runs": [str(r.path) for r in g.runs],
                "duplicates": [str(r.path) for r in g.duplicates],
                "stats": group_stats(g),
            }
            for g in groups
        ],
    }
