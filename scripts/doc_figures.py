"""Regenerate the CL figures the docs quote: run each comparison over seeds, write one table.

Usage (from the repository root, with the venv active)::

    python scripts/doc_figures.py SET [SET ...] [--seeds 0 1 2] [--out runs/doc-figures]
    python scripts/doc_figures.py --list

Each set is a list of (label, fedsim overrides) run once per seed into
``OUT/SET/<label>/seed<k>``; a cell whose ``summary.json`` exists is not run again (a killed
regeneration continues). The table (mean ± std over seeds, ``ddof=1``) goes to
``docs/figures/SET.md`` and the raw per-seed values to ``docs/figures/SET.json``, with the
command and the commit. The column ``F (old)`` recomputes forgetting from the same runs' client
matrices with the formula fedsim used before the fix of issue 15 (max over *all* earlier rows,
including the next-task cell measured before a task was learned), for the before/after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fedsim.metrics import continual as metrics  # noqa: E402

FAULT_BASE = [
    "scenario.num_clients=10",
    "scenario.num_tasks=3",
    "scenario.rounds_per_task=2",
    "scenario.max_arrival_delay=1",
    "train.epochs=5",
]
SETS: dict[str, dict] = {
    "default": {
        "doc": "README.md (the default experiment)",
        "rows": [("fedavg (default experiment)", [])],
    },
    "protos_ci": {
        "doc": "docs/prototypes.md, comparison 1",
        "rows": [
            ("FedAvg", ["+experiment=protos_ci", "strategy=fedavg"]),
            ("Fed-Recon", ["+experiment=protos_ci", "strategy=fedrecon"]),
            ("FedProto", ["+experiment=protos_ci", "strategy=fedproto"]),
            ("Fed-Recon base_rounds=0", ["+experiment=protos_ci", "strategy=fedrecon",
                                         "strategy.base_rounds=0"]),
            ("Fed-Recon freeze=false", ["+experiment=protos_ci", "strategy=fedrecon",
                                        "strategy.freeze=false"]),
            ("Fed-Recon merge=code", ["+experiment=protos_ci", "strategy=fedrecon",
                                      "strategy.merge=code"]),
        ],
    },
    "adapters_domain": {
        "doc": "docs/adapters.md, domain-incremental",
        "rows": [
            *[(s, ["+experiment=adapters_domain_incremental", f"strategy={s}"])
              for s in ("fedavg", "full_finetune", "adapter_avg", "adapter_bank", "adapter_split")],
            ("adapter_bank routing=task_id (oracle)",
             ["+experiment=adapters_domain_incremental", "strategy=adapter_bank",
              "strategy.routing=task_id"]),
            ("adapter_avg backbone.init=random",
             ["+experiment=adapters_domain_incremental", "strategy=adapter_avg",
              "strategy.backbone.init=random"]),
        ],
    },
    "adapters_class": {
        "doc": "docs/adapters.md, class-incremental",
        "rows": [
            *[(s, ["+experiment=adapters_class_incremental", f"strategy={s}"])
              for s in ("fedavg", "full_finetune", "adapter_avg", "adapter_bank", "adapter_split")],
            ("adapter_bank routing=task_id (oracle)",
             ["+experiment=adapters_class_incremental", "strategy=adapter_bank",
              "strategy.routing=task_id"]),
            ("adapter_bank backbone.init=random",
             ["+experiment=adapters_class_incremental", "strategy=adapter_bank",
              "strategy.backbone.init=random"]),
        ],
    },
    "fault_matrix": {
        "doc": "docs/reliability.md, section 5",
        "rows": [
            ("clean_fedavg", [*FAULT_BASE]),
            ("matrix_fedavg", [*FAULT_BASE, "+experiment=fault_matrix"]),
            ("clean_fedmedian", [*FAULT_BASE, "strategy=fedmedian"]),
            ("matrix_fedmedian", [*FAULT_BASE, "+experiment=fault_matrix", "strategy=fedmedian"]),
            *[(f"adv_{s}", [*FAULT_BASE, "faults=adversarial", f"strategy={s}"])
              for s in ("fedavg", "fedmedian", "fedtrimmedavg", "krum", "multikrum", "bulyan")],
        ],
    },
    "analysis": {
        "doc": "docs/analysis.md, the example",
        "rows": [
            ("fedavg", ["+experiment=quick", "strategy=fedavg"]),
            ("fedprox mu=0.01", ["+experiment=quick", "strategy=fedprox"]),
            ("fedprox mu=1", ["+experiment=quick", "strategy=fedprox",
                              "strategy.proximal_mu=1.0"]),
        ],
    },
    "scenarios": {
        "doc": "docs/scenarios.md, the domain-incremental and heterogeneous runs",
        "rows": [
            ("domain_incremental rot 90", [
                "scenario=domain_incremental", "scenario.num_clients=4", "scenario.num_tasks=2",
                "scenario.rounds_per_task=1", "scenario.max_arrival_delay=1",
                "scenario.rotation_step=90", "train.epochs=2"]),
            ("heterogeneous", [
                "scenario=heterogeneous", "scenario.num_clients=5", "scenario.rounds_per_task=1",
                "scenario.duration_jitter=1", "scenario.max_gap=1", "scenario.max_arrival_delay=2",
                "scenario.recur_prob=0.5", "scenario.leave_fraction=0.2", "train.epochs=1"]),
        ],
    },
    "curricula": {
        "doc": "docs/curricula.md, label skew x data curriculum",
        "extra": ("central_best", "central_last3"),
        "columns": ("central", "central_best", "central_last3"),
        # vanilla vs the curriculum at three skews (+ anti-curriculum at the strongest skew);
        # the random-order variant of the 2-seed sweep is left out to fit a shared machine
        "rows": [
            (f"alpha={a} {label}", ["+experiment=curricula_sweep", f"scenario.alpha={a}",
                                    f"curriculum={c}"])
            for a, variants in (("0.05", ("none", "data_curriculum", "data_anti")),
                                ("0.3", ("none", "data_curriculum")),
                                ("100", ("none", "data_curriculum")))
            for c in variants
            for label in [{"none": "vanilla", "data_curriculum": "curriculum",
                           "data_anti": "anti-curriculum"}[c]]
        ],
    },
    "baselines": {
        "doc": "docs/baselines.md, the FCL baselines on +experiment=quick",
        "extra": ("memory_kb",),
        "rows": [
            ("FedAvg", ["+experiment=quick", "strategy=fedavg"]),
            ("FedLwF", ["+experiment=quick", "strategy=fedlwf"]),
            ("FedEWC", ["+experiment=quick", "strategy=fedewc"]),
            ("replay reservoir 20", ["+experiment=quick", "strategy=replay",
                                     "strategy.budget=20"]),
            ("replay herding 20", ["+experiment=quick", "strategy=replay",
                                   "strategy.selection=herding", "strategy.budget=20"]),
            ("replay reservoir 200", ["+experiment=quick", "strategy=replay",
                                      "strategy.budget=200"]),
        ],
    },
}
COLUMNS = ("acc", "forgetting", "forgetting_old", "bwt", "fwt", "central", "mb_per_round",
           "rejected")
HEADER = ("ACC", "forgetting F", "F (old formula)", "BWT", "FWT", "global model (last round)",
          "MB / round", "rejected replies")
#: columns a set adds with ``"extra"`` (name -> header)
EXTRA = {
    "memory_kb": "client memory KB (peak: old model + Fisher + buffer)",
    "central_best": "global model (best round)",
    "central_last3": "global model (mean of the last 3 rounds)",
}


def old_forgetting(a: np.ndarray) -> float:
    """The pre-fix formula: ``max_{l<T-1} A[l, j] - A[T-1, j]`` (all earlier rows)."""
    t = a.shape[0]
    per_task = []
    for j in range(t - 1):
        past = a[: t - 1, j]
        if np.all(np.isnan(past)) or np.isnan(a[-1, j]):
            continue
        per_task.append(np.nanmax(past) - a[-1, j])
    return float(np.mean(per_task)) if per_task else float("nan")


def row_values(summary: dict) -> dict[str, float]:
    """The table's values of one run's ``summary.json``."""
    final = summary.get("final") or {}
    olds = []
    for mat in (summary.get("client_matrices") or {}).values():
        a = np.array([[np.nan if v is None else v for v in r] for r in mat], dtype=float)
        if a.size and not np.all(np.isnan(a[-1])):
            olds.append(old_forgetting(a))
    curve = [r["central_acc"] for r in summary.get("history", [])
             if r.get("central_acc") is not None]
    return {
        "acc": final.get("acc"),
        "forgetting": final.get("forgetting"),
        "forgetting_old": metrics.mean_metrics([{"f": v} for v in olds]).get("f"),
        "bwt": final.get("bwt"),
        "fwt": final.get("fwt"),
        "central": summary.get("final_central_acc"),
        "mb_per_round": summary["bytes_per_round"] / 1e6,
        "rejected": summary.get("rejected_replies"),
        "memory_kb": (summary.get("client_memory_bytes") or {}).get("total", 0.0) / 1e3,
        "central_best": max(curve) if curve else None,
        "central_last3": float(np.mean(curve[-3:])) if curve else None,
        "status": summary.get("status"),
    }


def run_cell(overrides: list[str], out: Path) -> dict:
    """Run one (row, seed) unless its summary exists; return the summary."""
    found = sorted(out.rglob("summary.json"))
    if not found:
        cmd = [sys.executable, "-m", "fedsim", *overrides, "log.progress=false",
               f"output.root={out}", "output.name=run"]
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if res.returncode not in (0, 3):  # 3: degraded, recorded in the table's status line
            raise SystemExit(f"doc_figures: {' '.join(overrides)} failed: {res.stderr[-400:]}")
        found = sorted(out.rglob("summary.json"))
        (out / "commit.txt").write_text(git_commit() + "\n")
    return json.loads(found[-1].read_text())


def git_commit() -> str:
    """The checkout's short commit (``+dirty`` with uncommitted changes to tracked files).

    A tree exported with ``git archive COMMIT`` (to regenerate figures while the checkout
    changes) has no git history: set ``FEDSIM_SOURCE_COMMIT=COMMIT`` when running from it.
    """
    if os.environ.get("FEDSIM_SOURCE_COMMIT"):
        return os.environ["FEDSIM_SOURCE_COMMIT"]
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    dirty = git("status", "--porcelain", "--untracked-files=no").strip()
    return git("rev-parse", "--short", "HEAD").strip() + ("+dirty" if dirty else "")


def fmt(values: list[float | None]) -> str:
    """``mean ± std`` over seeds (``n/a`` when no seed has a value)."""
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return "n/a"
    digits = 1 if all(float(v).is_integer() for v in vals) else 3
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals, ddof=1):.{digits}f}"


def write_set(name: str, seeds: list[int], out: Path) -> Path:
    """Run every row of set ``name`` for every seed; write docs/figures/NAME.{md,json}."""
    spec = SETS[name]
    raw: dict[str, list[dict]] = {}
    cells: list[Path] = []
    started = time.time()
    for label, overrides in spec["rows"]:
        raw[label] = []
        for seed in seeds:
            cell = out / name / re.sub(r"[^A-Za-z0-9_.-]+", "_", label) / f"seed{seed}"
            summary = run_cell([*overrides, f"seed={seed}"], cell)
            cells.append(cell)
            raw[label].append({"seed": seed, **row_values(summary)})
            print(f"{name} | {label} | seed {seed}: acc {raw[label][-1]['acc']}, "
                  f"global {raw[label][-1]['central']}", flush=True)
    stamps = sorted({(c / "commit.txt").read_text().strip() for c in cells
                     if (c / "commit.txt").is_file()})
    commit = ", ".join(stamps) if stamps else git_commit()
    cmd = f"python scripts/doc_figures.py {name} --seeds {' '.join(map(str, seeds))}"
    base = spec.get("columns", COLUMNS)
    columns = (*base, *(c for c in spec.get("extra", ()) if c not in base))
    header = tuple(dict(zip(COLUMNS, HEADER, strict=True)).get(c) or EXTRA[c] for c in columns)
    lines = [
        f"<!-- generated by `{cmd}`, runs at commit {commit}; do not edit by hand -->",
        f"Figures for {spec['doc']}: mean ± std over seeds {seeds} "
        f"(`{cmd}`, commit `{commit}`, {time.strftime('%Y-%m-%d')}).",
        "",
        "| run | " + " | ".join(header) + " |",
        "|---" * (len(header) + 1) + "|",
    ]
    odd = []
    for label, rows in raw.items():
        cells = [fmt([r[c] for r in rows]) for c in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        odd += [f"{label} seed {r['seed']}: {r['status']}" for r in rows
                if r.get("status") not in (None, "completed")]
    lines += ["", "Final status of every run: " + ("; ".join(odd) if odd else "completed.")]
    figures = ROOT / "docs" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    (figures / f"{name}.md").write_text("\n".join(lines) + "\n")
    (figures / f"{name}.json").write_text(json.dumps(
        {"command": cmd, "commit": commit, "seeds": seeds, "rows": raw,
         "wall_s": round(time.time() - started, 1)}, indent=1) + "\n")
    return figures / f"{name}.md"


CHECKED = ("acc", "forgetting", "bwt", "fwt", "central")


def check_cells(name: str, cells: list[str], out: Path) -> bool:
    """Re-run ``label:seed`` cells of set ``name`` afresh; compare with docs/figures/NAME.json.

    A quick test that a committed table still reproduces without re-running the whole set:
    prints IDENTICAL or DIFFERENT per cell (ACC, F, BWT, FWT, global accuracy, exact floats).
    """
    stored = json.loads((ROOT / "docs" / "figures" / f"{name}.json").read_text())["rows"]
    rows = dict(SETS[name]["rows"])
    same = True
    for cell in cells:
        label, _, seed = cell.rpartition(":")
        if label not in rows:
            raise SystemExit(f"doc_figures: {name} has no row '{label}'; rows: {', '.join(rows)}")
        where = out / "check" / name / re.sub(r"[^A-Za-z0-9_.-]+", "_", label) / f"seed{seed}"
        got = row_values(run_cell([*rows[label], f"seed={int(seed)}"], where))
        want = next(r for r in stored[label] if r["seed"] == int(seed))
        diff = {k: (want.get(k), got[k]) for k in CHECKED if want.get(k) != got[k]}
        same &= not diff
        print(f"{name} | {label} | seed {seed}: "
              + ("IDENTICAL" if not diff else f"DIFFERENT (stored, now): {diff}"), flush=True)
    return same


def main(argv: list[str] | None = None) -> None:
    """Command line: the sets to regenerate, the seeds, where the runs go."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help=f"any of: {', '.join(SETS)}")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "doc-figures")
    parser.add_argument("--list", action="store_true", help="list the sets and exit")
    parser.add_argument("--check", nargs="+", metavar="LABEL:SEED",
                        help="re-run these cells of the one SET and compare with its JSON")
    args = parser.parse_args(argv)
    if args.check:
        if len(args.sets) != 1 or args.sets[0] not in SETS:
            parser.error("--check needs exactly one known SET")
        if not check_cells(args.sets[0], args.check, args.out.resolve()):
            raise SystemExit(1)
        return
    if args.list or not args.sets:
        for name, spec in SETS.items():
            print(f"{name}: {spec['doc']} ({len(spec['rows'])} rows)")
        return
    unknown = [s for s in args.sets if s not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; allowed: {', '.join(SETS)}")
    for name in args.sets:
        print(write_set(name, args.seeds, args.out.resolve()))


if __name__ == "__main__":
    main()
