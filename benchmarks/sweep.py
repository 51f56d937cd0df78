"""What a sweep costs: ``fedsim -m seed=0..N-1 +experiment=quick`` against its steady-state work.

    python -m benchmarks.sweep --runs 8 --reps 3 --json benchmarks/results/v4-sweep/sweep.json
    python -m benchmarks.sweep --baseline /tmp/base      # + the same for another checkout

Per repetition and implementation, two processes run in turn (interleaved with the other
implementation): the sweep (``-m seed=0,...,N-1``) and its first run alone (``seed=0``).
From each run's ``summary.json``:

* *steady work* of a run = R x its steady round (median of rounds 2..R), the sweep's = the sum
  over its runs; **sweep / steady work** = the sweep's whole wall time (process start to exit)
  over that sum (issue 19's goal: <= 1.3);
* *per extra run* = (sweep wall - single-run wall) / (N - 1): what each further run of the
  sweep costs, against *R x steady* of a run (the *marginal ratio*);
* *start-up of one run* = the single run's wall - R x steady.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.machine import cell, env_for, load_average, machine_info
from benchmarks.run import ROOT, peak_pss_until_exit

QUICK = ["+experiment=quick", "log.progress=false"]


def timed(cmd: list[str], tree: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd`` in checkout ``tree``; return (wall seconds, peak PSS GB of the tree)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peak = peak_pss_until_exit(proc)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-1500:]}")
    return wall, peak / 1e9


def run_stats(root: Path) -> list[dict]:
    """Per run below ``root`` (sorted by seed): rounds, steady round, round 1's extra."""
    out = []
    for path in root.rglob("summary.json"):
        summary = json.loads(path.read_text())
        times = [h["round_time_s"] for h in summary["history"]]
        steady = statistics.median(times[1:])
        cfg = yaml.safe_load((path.parent / "config.yaml").read_text())
        out.append({"seed": cfg.get("seed"), "rounds": len(times), "steady_round_s": steady,
                    "work_s": len(times) * steady, "round1_extra_s": times[0] - steady,
                    "round_times": times, "final": summary.get("final")})
    return sorted(out, key=lambda r: (r["seed"] is None, r["seed"]))


def measure(tree: Path, runs: int, env: dict[str, str]) -> dict:
    """One repetition: the sweep of ``runs`` seeds and its first run alone, in ``tree``."""
    env = dict(env, PYTHONPATH=str(tree))
    res = {}
    for mode, seeds in (("sweep", ",".join(map(str, range(runs)))), ("single", "0")):
        with tempfile.TemporaryDirectory(prefix="fedsim-sweep-") as tmp:
            cmd = [sys.executable, "-m", "fedsim", *(["-m"] if mode == "sweep" else []),
                   *QUICK, f"seed={seeds}", f"output.root={tmp}"]
            wall, peak = timed(cmd, tree, env)
            stats = run_stats(Path(tmp))
        if len(stats) != (runs if mode == "sweep" else 1):
            raise RuntimeError(f"{mode}: expected {runs} summaries, found {len(stats)}")
        res[mode] = {"wall_s": wall, "peak_pss_gb": peak, "runs": stats,
                     "work_s": sum(r["work_s"] for r in stats)}
    sweep, single = res["sweep"], res["single"]
    res["sweep_over_work"] = sweep["wall_s"] / sweep["work_s"]
    res["per_extra_run_s"] = (sweep["wall_s"] - single["wall_s"]) / max(runs - 1, 1)
    mean_work = statistics.mean(r["work_s"] for r in sweep["runs"][1:])
    res["marginal_ratio"] = res["per_extra_run_s"] / mean_work
    res["single_startup_s"] = single["wall_s"] - single["work_s"]
    res["warm_round1_extra_s"] = statistics.median(r["round1_extra_s"] for r in sweep["runs"][1:])
    res["same_metrics_as_alone"] = sweep["runs"][0]["final"] == single["runs"][0]["final"]
    return res


def main() -> None:
    """Measure, print the markdown table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--baseline", type=Path, default=None, help="another fedsim checkout")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    trees = {"fedsim": ROOT, **({"fedsim-baseline": a.baseline.resolve()} if a.baseline else {})}
    machine = machine_info()
    results: dict[str, list[dict]] = {k: [] for k in trees}
    for rep in range(a.reps):
        for name, tree in trees.items():
            r = measure(tree, a.runs, env_for(None, dict(os.environ)))
            r["load_after"] = load_average()
            results[name].append(r)
            print(f"# rep {rep} {name}: sweep {r['sweep']['wall_s']:.1f} s = "
                  f"{r['sweep_over_work']:.2f}x its steady work; per extra run "
                  f"{r['per_extra_run_s']:.2f} s ({r['marginal_ratio']:.2f}x); load "
                  f"{r['load_after']}", file=sys.stderr, flush=True)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"machine": machine, "load_after": load_average(),
                                      "command": sys.argv, "results": results}, indent=1))
    print(f"| impl | sweep / steady work | per extra run / (R x steady) | per extra run s "
          f"| warm round 1 - steady s | one run's start-up s | peak GB |  ({a.runs} runs of "
          f"+experiment=quick; median [min-max] of {a.reps}; load {machine['load_average']})")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        def col(key, fmt="{:.2f}", rows=rows):
            return cell([r[key] for r in rows], fmt)
        print(f"| {name} | {col('sweep_over_work')} | {col('marginal_ratio')} "
              f"| {col('per_extra_run_s')} | {col('warm_round1_extra_s')} "
              f"| {col('single_startup_s', '{:.1f}')} "
              f"| {cell([r['sweep']['peak_pss_gb'] for r in rows])} |")


if __name__ == "__main__":
    main()
