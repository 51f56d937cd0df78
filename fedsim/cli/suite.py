"""``fedsim suite run|table NAME [OVERRIDES...]``: run a versioned benchmark suite, write its table.

``run`` checks every cell's config first (one line naming the bad override, exit 2, nothing
run), then runs the cells that are not finished yet, one ``fedsim`` process each, with a
progress bar; a cell that is already completed with the same overrides is skipped, so a killed
suite continues where it stopped (an unfinished cell directory is kept aside as
``<cell>.unfinished-<time>``, never deleted). Then, as ``table`` does, it writes
``table.md``, ``table.csv``, ``table.json`` and ``table.png`` in the suite's output directory.
Exit 0 when every cell completed, 1 when some did not (they are listed in the table).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from fedsim.analysis.suite import (
    Cell,
    Suite,
    cell_done,
    csv_rows,
    load_suite,
    markdown,
    record_cell,
    suite_path,
    suite_table,
)
from fedsim.cli.main import fail, precheck
from fedsim.config.compose import config_dir
from fedsim.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    about = __doc__.splitlines()[0].replace("``", "")
    p = argparse.ArgumentParser(prog="fedsim suite", description=about)
    p.add_argument("action", choices=("run", "table"))
    p.add_argument("suite", help="a name in configs/suite/ (e.g. fcl-digits-v1) or a YAML file")
    p.add_argument("overrides", nargs="*", help="extra overrides for every cell (data.root=...)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default runs/suite/<name>-v<version>)",
    )
    p.add_argument(
        "--only", default="", help="comma-separated methods or scenarios to run (default: all)"
    )
    return p


def _selected(suite: Suite, only: str, extra: tuple[str, ...]) -> list[Cell]:
    names = [n for n in only.split(",") if n]
    unknown = [n for n in names if n not in suite.methods and n not in suite.scenarios]
    if unknown:
        raise ConfigError(
            "--only", f"'{unknown[0]}' is neither a method nor a scenario of the suite"
        )
    cells = suite.cells(extra)
    return [c for c in cells if not names or c.method in names or c.scenario in names]


def _run_cell(cell: Cell, run_dir: Path, suite: Suite, log: Path) -> bool:
    if run_dir.exists():  # unfinished or from other overrides: keep it aside, lose nothing
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.unfinished-{int(time.time())}"))
    record_cell(run_dir, cell, suite)
    cmd = [
        sys.executable,
        "-m",
        "fedsim",
        *cell.overrides,
        f"hydra.run.dir={run_dir}",
        "log.progress=false",
    ]
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    return code == 0 and cell_done(run_dir, cell)


def run_cells(suite: Suite, cells: list[Cell], out: Path) -> list[str]:
    """Run every unfinished cell with a progress bar; return the cells that did not complete."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    todo = [c for c in cells if not cell_done(out / c.path, c)]
    print(f"fedsim suite: {suite.name} v{suite.version}: {len(cells)} cells, "
          f"{len(cells) - len(todo)} already done, {len(todo)} to run; logs in {out / 'suite.log'}",
          flush=True)  # fmt: skip
    failed = []
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task(suite.name, total=len(todo))
        for cell in todo:
            progress.update(bar, description=str(cell.path))
            if not _run_cell(cell, out / cell.path, suite, out / "suite.log"):
                failed.append(str(cell.path))
            progress.advance(bar)
    return failed


def write_table(suite: Suite, out: Path, extra: tuple[str, ...] = ()) -> dict:
    """Write table.md / .csv / .json / .png in ``out``; return the table."""
    from fedsim.analysis.plots import suite_figure

    table = suite_table(suite, out, extra)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(markdown(table))
    with (out / "table.csv").open("w", newline="") as f:
        csv.writer(f).writerows(csv_rows(table))
    (out / "table.json").write_text(json.dumps(table, indent=1, default=str))
    suite_figure(table, out / "table.png")
    return table


def suite_main(argv: list[str]) -> None:
    """Entry point of ``fedsim suite``."""
    ns = _parser().parse_args(argv)
    try:
        suite = load_suite(suite_path(ns.suite, config_dir()))
        extra = tuple(ns.overrides)
        cells = _selected(suite, ns.only, extra)
    except ConfigError as exc:
        fail(str(exc))
    out = ns.out or Path("runs") / "suite" / f"{suite.name}-v{suite.version}"
    failed: list[str] = []
    if ns.action == "run":
        checked = set()
        for cell in cells:  # every config is checked before anything runs
            key = (cell.method, cell.scenario)
            if key not in checked:
                checked.add(key)
                precheck(list(cell.overrides))
        failed = run_cells(suite, cells, out)
    table = write_table(suite, out, extra)
    sys.stdout.write(markdown(table))
    print(f"fedsim suite: table in {out / 'table.md'} (.csv, .json, .png)")
    if failed or (ns.action == "run" and table["missing"] and not ns.only):
        print(f"fedsim suite: {len(failed)} cells did not complete: {', '.join(failed)}",
              file=sys.stderr)  # fmt: skip
        sys.exit(1)
