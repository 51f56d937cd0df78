"""Run fedsim, plain Flower and a raw PyTorch loop side by side; print a table of medians.

    python -m benchmarks.run                       # all workloads, 3 repetitions
    python -m benchmarks.run --registered 1000 --models mlp --reps 2
    git worktree add /tmp/base <commit>            # then, to measure a change side by side:
    python -m benchmarks.run --models mlp --impls fedsim fedsim-baseline --baseline /tmp/base

Each (workload, implementation) runs in its own process, in turn, ``--reps`` times (interleaved
so that machine noise hits every implementation alike). Peak memory is the peak of the summed
PSS of the whole process tree (driver, Ray daemons, actors), sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def tree_pss(proc: psutil.Process) -> int:
    """Summed PSS (bytes) of a process and all its descendants."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def run_one(args: list[str], tree: Path = ROOT) -> dict:
    """Run ``benchmarks.run_one`` of checkout ``tree`` with ``args``; return its JSON + peak PSS."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.run_one", *args], cwd=tree, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_pss(ps))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    out = proc.stdout.read().strip().splitlines()
    if proc.returncode != 0 or not out:
        raise RuntimeError(f"benchmark {args} failed with code {proc.returncode}")
    res = json.loads(out[-1])
    res["peak_pss_gb"] = peak / 1e9
    res.setdefault("first_round_extra_s", res["round_times"][0] - res["steady_round_s"])
    return res


def median(rows: list[dict], key: str) -> float:
    """Median of a key over repetitions."""
    return statistics.median(r[key] for r in rows)


def main() -> None:
    """Run the grid and print the markdown table."""
    p = argparse.ArgumentParser()
    p.add_argument("--registered", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    p.add_argument("--impls", nargs="+", default=["fedsim", "flower", "raw"])
    p.add_argument("--sampled", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="train.device of fedsim and the raw loop (GPU memory is then reported)")
    p.add_argument("--json", type=Path, default=None, help="also write raw results here")
    p.add_argument("--baseline", type=Path, default=None,
                   help="another fedsim checkout (e.g. a git worktree of an older commit); "
                        "impl 'fedsim-baseline' runs its fedsim in the same interleaving")
    a = p.parse_args()
    if a.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda: CUDA is not available (README 'GPU install')")
    if "fedsim-baseline" in a.impls and not (a.baseline and (a.baseline / "fedsim").is_dir()):
        p.error("--impls fedsim-baseline needs --baseline DIR, a fedsim checkout")
    results: dict[tuple, list[dict]] = {}
    for model in a.models:
        for registered in a.registered:
            for rep in range(a.reps):
                for impl in a.impls:
                    baseline = impl == "fedsim-baseline"
                    args = ["--impl", "fedsim" if baseline else impl, "--registered",
                            str(registered), "--model", model, "--sampled", str(a.sampled),
                            "--rounds", str(a.rounds),
                            *(["--device", a.device] if a.device != "cpu" else [])]
                    res = run_one(args, a.baseline.resolve() if baseline else ROOT)
                    res["impl"] = impl
                    results.setdefault((model, registered, impl), []).append(res)
                    print(f"# {model} {registered} {impl} rep {rep}: steady "
                          f"{res['steady_round_s']:.3f} s, startup {res['startup_s']:.1f} s, "
                          f"peak {res['peak_pss_gb']:.2f} GB"
                          + (f", GPU peak {res['gpu_peak_mb']:.0f} MB" if "gpu_peak_mb" in res
                             else ""), file=sys.stderr, flush=True)
    if a.json:
        a.json.write_text(json.dumps({"|".join(map(str, k)): v for k, v in results.items()}))
    print(f"| model | registered | impl | steady round s | round 1 - steady s | start-up s "
          f"| updates/s | peak GB | final acc | fedsim/impl |  (median of {a.reps}, "
          f"{a.sampled} clients/round)")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (model, registered, impl), rows in results.items():
        steady = median(rows, "steady_round_s")
        base = results.get((model, registered, "fedsim"))
        ratio = median(base, "steady_round_s") / steady if base else float("nan")
        print(f"| {model} | {registered} | {impl} | {steady:.3f} "
              f"| {median(rows, 'first_round_extra_s'):.1f} | {median(rows, 'startup_s'):.1f} "
              f"| {median(rows, 'updates_per_s'):.0f} | {median(rows, 'peak_pss_gb'):.2f} "
              f"| {median(rows, 'final_acc'):.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
