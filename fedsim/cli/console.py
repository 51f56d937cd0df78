"""The console: the final table of a run, and plain output when stdout is not a terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

#: line width off a terminal: long enough that no table or path is ever wrapped
PLAIN_WIDTH = 10_000


def make_console(stderr: bool = False):
    """A rich Console; off a terminal (a pipe, a file, CI) plain: no colour, no wrapping.

    Rich wraps at 80 columns when it cannot ask a terminal for its width, splitting paths and
    table cells; off a terminal the width is :data:`PLAIN_WIDTH` and soft wrap is on, so a
    line is as long as its content and a path is never split.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(file=stream)
    return Console(
        file=stream, width=PLAIN_WIDTH, soft_wrap=True, no_color=True, highlight=False,
        emoji=False,
    )  # fmt: skip


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
    if summary.get("central_eval"):
        table.add_row("central evaluation", str(summary["central_eval"]))
    table.add_row("bytes per round", f"{summary['bytes_per_round'] / 1e6:.3f} MB")
    table.add_row("rejected replies", str(summary.get("rejected_replies", 0)))
    privacy = summary.get("privacy")
    if privacy and privacy.get("mode", "none") != "none":
        eps = privacy.get("epsilon")
        value = "n/a" if eps is None else f"{eps:.3f} (delta={privacy['delta']:g})"
        table.add_row(f"privacy ({privacy['mode']}) epsilon", value)
        if privacy.get("epsilon_mean") is not None:
            table.add_row("privacy epsilon, client mean", f"{privacy['epsilon_mean']:.3f}")
    if privacy and privacy.get("secagg"):
        rounds = len(privacy["secagg"]["rounds"])
        table.add_row("secure aggregation (SecAgg+)", f"{rounds} of {summary['rounds']} rounds")
    state = str(summary.get("status", "completed"))
    colour = {"completed": "green", "degraded": "yellow"}.get(state, "red")
    table.add_row("status", f"[{colour}]{state}[/{colour}]")
    if summary.get("status_reason"):
        table.add_row("why", str(summary["status_reason"]))
    console = make_console()
    console.print(table)
    console.print(f"run directory: {run_dir}")
    console.print(f"TensorBoard:   tensorboard --logdir {summary['tensorboard_dir']}")
