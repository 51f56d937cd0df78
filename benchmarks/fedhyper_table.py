"""Summarise a FedHyper initial-LR sweep: rounds to a target accuracy and final accuracy.

Reads every ``summary.json`` (and the ``config.yaml`` beside it) under a directory, e.g. the
multirun directory of ``configs/experiment/fedhyper_sweep*.yaml``, and prints Markdown tables::

    python benchmarks/fedhyper_table.py /path/to/multirun/DATE [more dirs] --target 0.8
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import yaml

METHOD_ORDER = ["FedAvg", "FedHyper-G", "FedHyper-GM", "FedHyper-SL", "FedHyper-CL",
                "FedHyper-FULL", "FedAdam"]
SETTINGS = {"iid": "IID", "dirichlet": "non-IID Dir(0.1)"}


def method_of(cfg: dict) -> str:
    """A readable method name from the strategy and LR-controller names."""
    strategy, lr = cfg["strategy"]["name"], cfg["lr"]["name"]
    base = {"fedavg": "FedAvg", "fedadam": "FedAdam", "fedprox": "FedProx",
            "fedyogi": "FedYogi", "fedadagrad": "FedAdagrad"}.get(strategy, strategy)
    if lr == "fixed":
        return base
    name = "FedHyper-" + lr.split("_", 1)[1].upper() if lr.startswith("fedhyper_") else lr
    return name if base == "FedAvg" else f"{base}+{name}"


def rounds_to(history: list[dict], target: float) -> int | None:
    """First round whose central accuracy reaches ``target`` (None if never)."""
    for row in history:
        acc = row.get("central_acc")
        if acc is not None and acc >= target:
            return int(row["round"])
    return None


def load_runs(root: Path, target: float) -> list[dict]:
    """One record per finished run under ``root``."""
    runs = []
    for path in sorted(root.rglob("summary.json")):
        cfg_path = path.parent / "config.yaml"
        if not cfg_path.is_file():
            continue
        cfg = yaml.safe_load(cfg_path.read_text())
        summary = json.loads(path.read_text())
        runs.append({
            "setting": cfg["scenario"].get("partition", "?"),
            "lr": float(cfg["train"]["lr"]),
            "seed": int(cfg["seed"]),
            "method": method_of(cfg),
            "final": summary.get("final_central_acc"),
            "rounds": rounds_to(summary.get("history", []), target),
            "num_rounds": int(summary.get("rounds", 0)),
        })
    return runs


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else None


def aggregate(runs: list[dict]) -> dict:
    """(setting, lr, method) -> mean final accuracy, rounds to target (None if any seed fails)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["setting"], r["lr"], r["method"])].append(r)
    out = {}
    for key, rs in groups.items():
        rounds = [r["rounds"] for r in rs]
        out[key] = {
            "final": _mean([r["final"] for r in rs]),
            "rounds": None if None in rounds else sum(rounds) / len(rounds),
            "seeds": len(rs),
            "num_rounds": max(r["num_rounds"] for r in rs),
        }
    return out


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "n/a"
    final = "-" if entry["final"] is None else f"{entry['final']:.3f}"
    rounds = f">{entry['num_rounds']}" if entry["rounds"] is None else f"{entry['rounds']:g}"
    return f"{final} ({rounds})"


def tables(agg: dict, target: float) -> str:
    """Markdown: per setting, one row per initial LR, one column per method."""
    methods = [m for m in METHOD_ORDER if any(k[2] == m for k in agg)]
    methods += sorted({k[2] for k in agg} - set(methods))
    lines = []
    for setting in sorted({k[0] for k in agg}):
        lrs = sorted({k[1] for k in agg if k[0] == setting})
        lines.append(f"\n**{SETTINGS.get(setting, setting)}** - final central accuracy "
                     f"(rounds to reach {target:g})\n")
        lines.append("| initial LR | " + " | ".join(methods) + " |")
        lines.append("|---" * (len(methods) + 1) + "|")
        for lr in lrs:
            cells = [_cell(agg.get((setting, lr, m))) for m in methods]
            lines.append(f"| {lr:g} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("| initial LR | " + " | ".join(f"{m} vs FedAvg" for m in methods[1:]) + " |")
        lines.append("|---" * len(methods) + "|")
        for lr in lrs:
            base = agg.get((setting, lr, "FedAvg"))
            cells = [_versus(agg.get((setting, lr, m)), base) for m in methods[1:]]
            lines.append(f"| {lr:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _versus(entry: dict | None, base: dict | None) -> str:
    """Accuracy gain in points and speed-up (FedAvg rounds / method rounds) to the target."""
    if entry is None or base is None or entry["final"] is None or base["final"] is None:
        return "n/a"
    gain = 100 * (entry["final"] - base["final"])
    if entry["rounds"] is None:
        speed = "never"
    elif base["rounds"] is None:
        speed = f">{base['num_rounds'] / entry['rounds']:.2g}x"
    else:
        speed = f"{base['rounds'] / entry['rounds']:.2g}x"
    return f"{gain:+.1f} pt, {speed}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", type=Path, nargs="+",
                        help="directories holding the runs (searched recursively)")
    parser.add_argument("--target", type=float, default=0.8, help="target central accuracy")
    args = parser.parse_args(argv)
    runs = []
    for root in args.roots:
        if not root.is_dir():
            print(f"fedhyper_table: error: roots: '{root}' is not a directory", file=sys.stderr)
            return 2
        runs += load_runs(root, args.target)
    if not runs:
        print("fedhyper_table: error: roots: no summary.json found", file=sys.stderr)
        return 2
    print(f"{len(runs)} runs")
    print(tables(aggregate(runs), args.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
