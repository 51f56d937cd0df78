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

from benchmarks.machine import ENV_VARIANTS, cell, env_for, load_average, machine_info

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


def peak_pss_until_exit(proc: subprocess.Popen, every_s: float = 0.2) -> int:
    """Wait for ``proc``; return the peak summed PSS (bytes) of its tree, sampled every 0.2 s."""
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_pss(ps))
        except psutil.NoSuchProcess:
            break
        try:
            proc.wait(timeout=every_s)  # returns at the exit itself: the wall time stays exact
        except subprocess.TimeoutExpired:
            pass
    return peak


def run_one(args: list[str], tree: Path = ROOT, env_variant: str | None = None) -> dict:
    """Run ``benchmarks.run_one`` of checkout ``tree`` with ``args``; return its JSON + peak PSS.

    ``env_variant`` (:data:`benchmarks.machine.ENV_VARIANTS`) sets/removes speed-relevant
    environment flags for this one measured process (``--compare-env``).
    """
    env = env_for(env_variant, dict(os.environ, PYTHONPATH=str(tree)))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.run_one", *args], cwd=tree, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    peak = peak_pss_until_exit(proc)
    process_wall = time.perf_counter() - started
    out = proc.stdout.read().strip().splitlines()
    if proc.returncode != 0 or not out:
        raise RuntimeError(f"benchmark {args} failed with code {proc.returncode}")
    res = json.loads(out[-1])
    res["peak_pss_gb"] = peak / 1e9
    res.setdefault("first_round_extra_s", res["round_times"][0] - res["steady_round_s"])
    # the whole process as its parent sees it: interpreter start and exit included
    res["process_startup_s"] = process_wall - res["steady_round_s"] * len(res["round_times"])
    return res


def median(rows: list[dict], key: str) -> float:
    """Median of a key over repetitions."""
    return statistics.median(r[key] for r in rows)


def parse() -> argparse.Namespace:
    """The command line."""
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
    p.add_argument("--compare-env", nargs="*", choices=sorted(ENV_VARIANTS), default=None,
                   help="measure every impl under these environment variants (default: all): "
                        "with/without PYTHONDONTWRITEBYTECODE and OPENBLAS_CORETYPE, for the "
                        "measured processes only")
    a = p.parse_args()
    if a.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda: CUDA is not available (README 'GPU install')")
    if "fedsim-baseline" in a.impls and not (a.baseline and (a.baseline / "fedsim").is_dir()):
        p.error("--impls fedsim-baseline needs --baseline DIR, a fedsim checkout")
    if a.compare_env is not None and not a.compare_env:
        a.compare_env = sorted(ENV_VARIANTS)
    return a


def main() -> None:
    """Run the grid (interleaved repetitions) and print the markdown table with spreads."""
    a = parse()
    machine = machine_info()
    print(f"# {machine['cpu_model']}, {machine['cores']} cores, load {machine['load_average']}, "
          f"env {machine['env']}", file=sys.stderr, flush=True)
    variants = a.compare_env or [None]
    results: dict[tuple, list[dict]] = {}
    for model in a.models:
        for registered in a.registered:
            for rep in range(a.reps):
                for variant in variants:
                    for impl in a.impls:
                        res = measure_one(a, model, registered, impl, variant)
                        label = impl if variant is None else f"{impl} [{variant}]"
                        results.setdefault((model, registered, label), []).append(res)
                        print(f"# {model} {registered} {label} rep {rep}: steady "
                              f"{res['steady_round_s']:.3f} s, startup {res['startup_s']:.1f} s, "
                              f"peak {res['peak_pss_gb']:.2f} GB, load {res['load_after']}"
                              + (f", GPU peak {res['gpu_peak_mb']:.0f} MB"
                                 if "gpu_peak_mb" in res else ""), file=sys.stderr, flush=True)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({
            "machine": machine, "load_after": load_average(), "command": sys.argv,
            "results": {"|".join(map(str, k)): v for k, v in results.items()},
        }))
    print_table(results, a, machine)


def measure_one(a: argparse.Namespace, model: str, registered: int, impl: str,
                variant: str | None) -> dict:
    """One process of one implementation on one workload."""
    baseline = impl == "fedsim-baseline"
    args = ["--impl", "fedsim" if baseline else impl, "--registered", str(registered),
            "--model", model, "--sampled", str(a.sampled), "--rounds", str(a.rounds),
            *(["--device", a.device] if a.device != "cpu" else [])]
    res = run_one(args, a.baseline.resolve() if baseline else ROOT, variant)
    res.update(impl=impl, env_variant=variant, load_after=load_average())
    return res


def print_table(results: dict[tuple, list[dict]], a: argparse.Namespace, machine: dict) -> None:
    """Markdown table: medians [min-max] over repetitions; ratios paired by repetition."""
    print(f"| model | registered | impl | steady round s | round 1 - steady s | start-up s "
          f"| whole-process start-up s "
          f"| updates/s | peak GB | final acc | fedsim/impl |  (median [min-max] of {a.reps}, "
          f"{a.sampled} clients/round; {machine['cpu_model']}, {machine['cores']} cores, "
          f"load before {machine['load_average']})")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (model, registered, label), rows in results.items():
        variant = rows[0]["env_variant"]
        ref = results.get((model, registered, "fedsim" if variant is None
                           else f"fedsim [{variant}]"))
        ratios = [f["steady_round_s"] / r["steady_round_s"]
                  for f, r in zip(ref or [], rows, strict=False)]
        print(f"| {model} | {registered} | {label} "
              f"| {cell([r['steady_round_s'] for r in rows], '{:.3f}')} "
              f"| {cell([r['first_round_extra_s'] for r in rows], '{:.1f}')} "
              f"| {cell([r['startup_s'] for r in rows], '{:.1f}')} "
              f"| {cell([r['process_startup_s'] for r in rows], '{:.1f}')} "
              f"| {median(rows, 'updates_per_s'):.0f} | {median(rows, 'peak_pss_gb'):.2f} "
              f"| {median(rows, 'final_acc'):.3f} "
              f"| {cell(ratios) if ratios else 'nan'} |")


if __name__ == "__main__":
    main()
