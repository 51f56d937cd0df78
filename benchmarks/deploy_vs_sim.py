"""Seconds per round: the deployment engine next to the Ray simulation, one command.

Runs the same experiment (2 clients, 1 task of 2 digits, R rounds, 1 local epoch, MLP) as

* ``sim`` - ``fedsim EXP`` (Ray simulation, 2 client actors);
* ``deploy`` - ``fedsim deploy local`` (SuperLink + 2 SuperNodes on 127.0.0.1, TLS + node auth),
  each SuperNode with one long-lived ClientApp executor (``--isolation process``, the default);
* ``deploy-subprocess`` - the same with Flower's fresh ``flwr-clientapp`` per message
  (``--isolation subprocess``, what ``fedsim deploy local`` did before),

and, with ``--baseline DIR``,

* ``deploy-baseline`` - ``deploy`` run from another checkout of fedsim (e.g. ``git archive
  <commit> | tar -x -C DIR``; ``PYTHONPATH=DIR``, the same virtual environment),

interleaved over ``--reps`` repetitions, and reads each run's ``summary.json``. *Steady round*
is the median ``round_time_s`` of rounds 2..R-1 (round 1 pays for start-up, round R adds every
client's task-boundary evaluation); the ratios deploy/sim are of medians measured in this one
command. The machine's 1-minute load average is recorded before and after every run.

    python -m benchmarks.deploy_vs_sim --rounds 6 --reps 2 \\
        --json benchmarks/results/v4-deploy/deploy-vs-sim.json
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

IMPLS = ("sim", "deploy", "deploy-subprocess", "deploy-baseline")


def experiment(rounds: int) -> list[str]:
    """The workload's Hydra overrides."""
    return [
        "scenario.num_clients=2",
        "scenario.num_tasks=1",
        "scenario.classes_per_task=2",
        f"scenario.rounds_per_task={rounds}",
        "scenario.max_arrival_delay=0",
        "train.epochs=1",
        "log.progress=false",
    ]


def command(impl: str, rounds: int, root: Path) -> list[str]:
    """The command line of one implementation."""
    base = [sys.executable, "-m", "fedsim"]
    exp = [*experiment(rounds), f"output.root={root}/runs"]
    if impl == "sim":
        return [*base, *exp]
    isolation = "subprocess" if impl == "deploy-subprocess" else "process"  # baseline: its own
    return [*base, "deploy", "local", "--quiet", "--isolation", isolation,
            "--workdir", str(root / "work"), *exp]  # fmt: skip


def run_one(impl: str, rounds: int, baseline: Path | None = None) -> dict:
    """Run one implementation once; return its round times, wall time and load averages."""
    env, cwd = None, None
    if impl == "deploy-baseline":  # the other checkout's fedsim, imported first, from outside
        env = {**os.environ, "PYTHONPATH": str(baseline)}
        cwd = tempfile.gettempdir()
    with tempfile.TemporaryDirectory(prefix=f"fedsim-bench-{impl}-") as tmp:
        root = Path(tmp)
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = subprocess.run(
            command(impl, rounds, root), capture_output=True, text=True, env=env, cwd=cwd
        )
        wall = time.perf_counter() - t0
        load_after = os.getloadavg()[0]
        if res.returncode != 0:
            raise RuntimeError(f"{impl} failed ({res.returncode}):\n{res.stderr[-3000:]}")
        (summary_file,) = (root / "runs").rglob("summary.json")
        summary = json.loads(summary_file.read_text())
    times = [float(h["round_time_s"]) for h in summary["history"]]
    steady = statistics.median(times[1:-1]) if len(times) > 2 else times[-1]
    return {
        "impl": impl,
        "round_times_s": times,
        "steady_round_s": steady,
        "server_wall_s": float(summary["wall_time_s"]),
        "command_wall_s": wall,
        "final_central_acc": summary.get("final_central_acc"),
        "load_avg_1min": [load_before, load_after],
    }


def table(runs: list[dict]) -> list[dict]:
    """Median steady round per implementation and its ratio to the simulation's."""
    rows = []
    sim = statistics.median(r["steady_round_s"] for r in runs if r["impl"] == "sim")
    for impl in IMPLS:
        mine = [r for r in runs if r["impl"] == impl]
        if not mine:
            continue
        steady = statistics.median(r["steady_round_s"] for r in mine)
        rows.append({
            "impl": impl,
            "steady_round_s": round(steady, 3),
            "round_1_s": round(statistics.median(r["round_times_s"][0] for r in mine), 2),
            "last_round_s": round(statistics.median(r["round_times_s"][-1] for r in mine), 2),
            "command_wall_s": round(statistics.median(r["command_wall_s"] for r in mine), 1),
            "vs_sim": round(steady / sim, 1),
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the interleaved repetitions, print the table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--impls", nargs="+", default=list(IMPLS[:3]), choices=IMPLS)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another fedsim checkout: adds deploy-baseline (deploy run from it)",
    )
    args = p.parse_args(argv)
    if "sim" not in args.impls:
        p.error("--impls must include sim (the ratios are against it)")
    if args.baseline is not None:
        if not (args.baseline / "fedsim" / "__init__.py").is_file():
            p.error(f"--baseline: no fedsim checkout at {args.baseline}")
        args.baseline = args.baseline.resolve()
        if "deploy-baseline" not in args.impls:
            args.impls.append("deploy-baseline")
    elif "deploy-baseline" in args.impls:
        p.error("--impls deploy-baseline needs --baseline DIR")
    runs = []
    for rep in range(args.reps):
        for impl in args.impls:
            run = run_one(impl, args.rounds, args.baseline)
            run["rep"] = rep
            runs.append(run)
            times = " ".join(f"{t:.2f}" for t in run["round_times_s"])
            print(f"rep {rep} {impl:18s} rounds [{times}] s, load {run['load_avg_1min']}",
                  flush=True)  # fmt: skip
    rows = table(runs)
    for row in rows:
        print(row)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        cmd = " ".join(["python -m benchmarks.deploy_vs_sim", *(argv or sys.argv[1:])])
        payload = {
            "command": cmd,
            "experiment": experiment(args.rounds),
            "table": rows,
            "runs": runs,
            "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
