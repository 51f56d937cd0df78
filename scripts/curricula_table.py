"""Summarise a curricula sweep: final and per-round global accuracy by label skew x curriculum.

Usage::

    python scripts/curricula_table.py RUNS_DIR [--rounds 1,5,10,15]

Reads every ``summary.json`` (and the ``config.yaml`` beside it) under ``RUNS_DIR``, groups
the runs by ``scenario.alpha`` and curriculum name, and prints Markdown tables of the mean
(and per-seed values) over seeds: the final global-model accuracy, the mean over the last
three rounds, the gain over vanilla, and the accuracy at selected rounds.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

ORDER = ("none", "data_curriculum", "data_anti", "data_random")
LABEL = {
    "none": "vanilla",
    "data_curriculum": "curriculum",
    "data_anti": "anti-curriculum",
    "data_random": "random",
}


def load_runs(root: Path) -> dict[tuple[float, str], list[dict]]:
    """Return ``(alpha, curriculum) -> [run, ...]`` with seed, final and per-round accuracy."""
    runs: dict[tuple[float, str], list[dict]] = defaultdict(list)
    for path in sorted(root.rglob("summary.json")):
        cfg = yaml.safe_load((path.parent / "config.yaml").read_text())
        summary = json.loads(path.read_text())
        curve = {int(r["round"]): r.get("central_acc") for r in summary["history"]}
        key = (float(cfg["scenario"]["alpha"]), str(cfg["curriculum"].get("name", "?")))
        runs[key].append(
            {"seed": cfg["seed"], "final": summary["final_central_acc"], "curve": curve}
        )
    return runs


def _fmt(values: list[float]) -> str:
    mean = float(np.mean(values))
    each = "/".join(f"{v:.3f}" for v in values)
    return f"{mean:.3f} ({each})" if len(values) > 1 else f"{mean:.3f}"


def tables(runs: dict[tuple[float, str], list[dict]], rounds: list[int]) -> str:
    """Render the Markdown tables."""
    alphas = sorted({a for a, _ in runs})
    names = [n for n in ORDER if any((a, n) in runs for a in alphas)]
    names += sorted({n for _, n in runs} - set(names))
    out = ["final global accuracy, mean over seeds (per seed) - gain vs vanilla in brackets", ""]
    out.append("| alpha | " + " | ".join(LABEL.get(n, n) for n in names) + " |")
    out.append("|---" * (len(names) + 1) + "|")
    for a in alphas:
        base = runs.get((a, "none"))
        base_mean = float(np.mean([r["final"] for r in base])) if base else None
        cells = []
        for n in names:
            rs = sorted(runs.get((a, n), []), key=lambda r: r["seed"])
            if not rs:
                cells.append("-")
                continue
            finals = [r["final"] for r in rs]
            gain = (
                "" if base_mean is None or n == "none" else f" [{np.mean(finals) - base_mean:+.3f}]"
            )
            cells.append(_fmt(finals) + gain)
        out.append(f"| {a:g} | " + " | ".join(cells) + " |")
    out += ["", "mean global accuracy over the last 3 rounds (less noisy than the last round)", ""]
    out.append("| alpha | " + " | ".join(LABEL.get(n, n) for n in names) + " |")
    out.append("|---" * (len(names) + 1) + "|")
    for a in alphas:
        cells = []
        for n in names:
            rs = runs.get((a, n), [])
            vals = [np.mean([v for _, v in sorted(r["curve"].items())[-3:]]) for r in rs]
            cells.append(f"{np.mean(vals):.3f}" if vals else "-")
        out.append(f"| {a:g} | " + " | ".join(cells) + " |")
    out += ["", "global accuracy over rounds (mean over seeds)", ""]
    out.append("| alpha | curriculum | " + " | ".join(f"r{r}" for r in rounds) + " |")
    out.append("|---" * (len(rounds) + 2) + "|")
    for a in alphas:
        for n in names:
            rs = runs.get((a, n), [])
            if not rs:
                continue
            cells = []
            for r in rounds:
                vals = [x["curve"].get(r) for x in rs if x["curve"].get(r) is not None]
                cells.append(f"{np.mean(vals):.3f}" if vals else "-")
            out.append(f"| {a:g} | {LABEL.get(n, n)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    """Parse arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="directory holding the sweep's run directories")
    parser.add_argument("--rounds", default="1,3,5,10,15", help="rounds to show in the curves")
    args = parser.parse_args()
    runs = load_runs(args.root)
    if not runs:
        raise SystemExit(f"no summary.json under {args.root}")
    print(tables(runs, [int(r) for r in args.rounds.split(",")]))


if __name__ == "__main__":
    main()
