"""The comparison report behind ``fedsim report RUN_DIR [RUN_DIR ...] [--out DIR]``.

Each argument is a run directory or any directory above runs (a Hydra multirun directory, an
``output.root``); run directories are found by recursion. Writes into ``--out`` (default
``./report-<UTC timestamp>``):

* ``report.md``: the group table (mean ± std over seeds), the per-run table and the figures;
* ``report.json``: the same numbers, machine-readable;
* ``accuracy_over_rounds.png``, ``forgetting_per_task.png``, ``accuracy_vs_communication.png``.

Runs that are still in progress or failed are skipped with a warning on stderr when at least
one completed run is found; otherwise the command prints one error line and exits 2.
"""

from __future__ import annotations

import json
from pathlib import Path

from fedsim.analysis.groups import IGNORED_KEYS, IGNORED_PREFIXES, Group, group_runs
from fedsim.analysis.plots import FIGURES
from fedsim.analysis.runs import collect_runs
from fedsim.analysis.table import markdown_table, report_data, runs_table

DEFINITIONS = (
    "ACC, forgetting, BWT and FWT are the clients' view (mean over clients of each client's "
    "task matrix, see README 'measurement definitions'); 'global model acc' is the global "
    "model's mean accuracy on all tasks' test splits after the last round, at its best round "
    "and at the final task boundary (the first round at which a client has learned its whole "
    "stream; n/a for runs written before fedsim reported it); bytes are all model bytes "
    "exchanged (down + up); wall time "
    "is the run's own wall-clock time. Cells are mean ± sample std (ddof=1) over seeds."
)


def render_markdown(groups: list[Group], sources: list[Path], figures: list[str]) -> str:
    """The text of ``report.md``."""
    n_runs = sum(len(g.runs) for g in groups)
    ignored = ", ".join([*IGNORED_KEYS, *(p + "*" for p in IGNORED_PREFIXES)])
    parts = [
        "# fedsim report",
        "",
        f"{n_runs} completed runs in {len(groups)} groups, from "
        + ", ".join(f"`{s}`" for s in sources)
        + f". Runs are grouped by their resolved config without {ignored}.",
        "",
        markdown_table(groups),
        "",
        DEFINITIONS,
        "",
        *duplicates_note(groups),
        "## Figures",
        "",
        "The legends name a group by its label, or by its id (G1, G2, ...: the table's first "
        "column) when the label is long. Bands are ±1 std over seeds, clipped to [0, 1].",
        "",
        *(f"![{Path(f).stem.replace('_', ' ')}]({f})\n" for f in figures),
        "## Runs",
        "",
        runs_table(groups, sources),
        "",
    ]
    return "\n".join(parts)


def duplicates_note(groups: list[Group]) -> list[str]:
    """Markdown lines naming the duplicate runs (same config, same seed), if any."""
    lines = []
    for g in groups:
        for r in g.duplicates:
            lines.append(f"* {g.ident}: `{r.path}` repeats seed {r.seed}")
    if not lines:
        return []
    return [
        "**Duplicate runs** (same config and seed as a run in the table: a re-run is not "
        "another sample, so only the newest of each seed is averaged):",
        "",
        *lines,
        "",
    ]


def build_report(paths: list[Path], out: Path, warn=None) -> dict:
    """Read the runs under ``paths`` and write the report into ``out``; return report.json.

    Duplicate runs (a group's runs with the same seed) are flagged through ``warn`` and in
    the report; only the newest run of each seed counts.
    """
    runs = collect_runs(paths, warn=warn)
    groups = group_runs(runs)
    for g in groups:
        for r in g.duplicates:
            if warn is not None:
                warn(f"{g.ident} ({g.label}): run '{r.path}' repeats seed {r.seed}; "
                     "not averaged (only the newest run of each seed counts)")
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for name, draw in FIGURES.items():
        draw(groups, out / name)
        figures.append(name)
    (out / "report.md").write_text(render_markdown(groups, paths, figures))
    data = report_data(groups)
    data["figures"] = figures
    (out / "report.json").write_text(json.dumps(data, indent=2, default=str))
    return data
