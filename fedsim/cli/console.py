"""The final console table of a run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def plain_console(console_class):  # noqa: ANN001, ANN201 - rich's Console, imported lazily
    """A rich console; off a terminal (a pipe, a file) without colours and never wrapped."""
    if sys.stdout.isatty():
        return console_class()
    return console_class(width=10_000, soft_wrap=True, no_color=True, highlight=False)


def central_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The global model's accuracy on all tasks: last round, best round, final task boundary.

    The last round alone can mislead (late arrivals train alone at the end), so the best round
    and the final task boundary (``fedsim.metrics.central``) stand next to it.
    """
    last = summary.get("final_central_acc")
    if last is None:
        return []
    last_round = (summary.get("central_rounds") or [summary.get("rounds")])[-1]
    rows = [(f"global model, all tasks, last round ({last_round})", f"{last:.4f}")]
    for key, what in (("best", "best round"), ("boundary", "final task boundary")):
        acc, rnd = summary.get(f"{key}_central_acc"), summary.get(f"{key}_central_round")
        if acc is not None:
            rows.append((f"global model, all tasks, {what} ({rnd})", f"{acc:.4f}"))
    return rows


def print_summary(summary: dict[str, Any], run_dir: Path) -> None:
    """Print the final metrics table and where the logs are."""
    from rich.console import Console
    from rich.table import Table

    final = summary.get("final", {})
    table = Table(title=f"fedsim - {summary['rounds']} rounds in {summary['wall_time_s']:.1f} s")
    table.add_column("metric")
    table.add_column("value", justify="right")
    labels = {
        "acc": "average accuracy (ACC)",
        "forgetting": "forgetting (F)",
        "bwt": "backward transfer (BWT)",
        "fwt": "forward transfer (FWT)",
        "aia": "average incremental accuracy",
    }
    for key, label in labels.items():
        value = final.get(key)
        table.add_row(label, "n/a" if value is None else f"{value:.4f}")
    for label, value in central_rows(summary):
        table.add_row(label, value)
    table.add_row("bytes per round", f"{summary['bytes_per_round'] / 1e6:.3f} MB")
    table.add_row("rejected replies", str(summary.get("rejected_replies", 0)))
    state = str(summary.get("status", "completed"))
    colour = {"completed": "green", "degraded": "yellow"}.get(state, "red")
    table.add_row("status", f"[{colour}]{state}[/{colour}]")
    if summary.get("status_reason"):
        table.add_row("why", str(summary["status_reason"]))
    console = plain_console(Console)
    console.print(table)
    console.print(f"run directory: {run_dir}")
    console.print(f"TensorBoard:   tensorboard --logdir {summary['tensorboard_dir']}")
