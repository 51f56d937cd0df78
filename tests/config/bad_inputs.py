"""Generated bad command lines and an in-process classifier of what ``fedsim`` does with each.

Each case is ``(args, key)``: the arguments after ``fedsim`` (``output.root`` is added by the
caller) and the config key the one-line error must name. :func:`classify` runs
``fedsim.cli.main.main`` in-process with Ray's start and the simulation replaced by sentinels, so a
case is sorted into one of:

``one_line``  exit 2, exactly one ``fedsim: error:`` line naming the key, before Ray started
``vague``     exit 2 before Ray, but more than one line or the key is not named
``traceback`` any other exit or exception (Hydra's exit 1, an uncaught error)
``after_ray`` refused, but only after Ray's start was requested
``silent``    accepted: the simulation would have run

Run ``python -m tests.config.bad_inputs`` to print the table (``-v``: every case).
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

# key -> invalid values beyond nan/inf/-inf/abc (the type and range of each numeric key)
FLOAT_POSITIVE = ["train.lr", "backend.client_cpus", "federation.round_timeout"]
FLOAT_NONNEG = ["train.momentum", "train.weight_decay", "backend.client_gpus"]
FRACTIONS = {"federation.fraction_train": ["0", "1.5"], "eval.client_fraction": ["-0.1", "2"]}
INT_POSITIVE = [
    "train.epochs",
    "train.batch_size",
    "federation.min_clients",
    "federation.min_replies",
    "federation.max_clients",
    "eval.central_every",
    "eval.panel_size",
    "output.checkpoint_every",
    "backend.num_nodes",
    "backend.ray_num_cpus",
    "num_rounds",
    "scenario.num_clients",
]
INT_NONNEG = ["backend.max_messages", "log.matrix_every", "seed"]
ENUMS = {
    "train.optimizer": ["rmsprop", "SGD", "''"],
    "federation.on_too_few": ["panic"],
    "backend.name": ["k8s"],
    "log.flwr_level": ["LOUD", "verbose"],
    "federation.degraded_policy": ["maybe"],
}
GROUPS = ["strategy", "scenario", "data", "model", "lr", "selection", "curriculum", "faults"]
UNKNOWN = [
    ("train.lrr=1", "train.lrr"),
    ("federation.foo=1", "federation.foo"),
    ("log.levl=INFO", "log.levl"),
    ("nosuchgroup.x=1", "nosuchgroup"),
    ("+train.extra=1", "train.extra"),
]
TYPES = [
    ("seed=1.5", "seed"),
    ("log.progress=maybe", "log.progress"),
    ("eval.client_boundary=maybe", "eval.client_boundary"),
    ("backend.ray_object_store_mb=10", "backend.ray_object_store_mb"),
    ("backend.ray_object_store_mb=nan", "backend.ray_object_store_mb"),
    ("federation.max_fraction_rejected=1.5", "federation.max_fraction_rejected"),
    ("federation.max_fraction_skipped=-1", "federation.max_fraction_skipped"),
]
COMBOS = [
    (["federation.min_clients=50"], "federation.min_clients"),
    (["federation.max_clients=2", "federation.min_clients=3"], "federation.max_clients"),
    (["federation.min_replies=1000"], "federation.min_replies"),
]
# refused by building the objects (today: after Ray started)
OBJECTS = [
    (["scenario.num_tasks=7"], "scenario"),
    (["scenario.num_clients=5000"], "scenario"),
    (["scenario.partition=bogus"], "scenario"),
    (["log.matrix_clients=[99]"], "log.matrix_clients"),
    (["strategy.client_learner=nosuch"], "strategy.client_learner"),
    (["faults=crash", "faults.crash=2"], "faults.crash"),
    (["faults=stragglers", "faults.straggler_delay_s=0"], "faults.straggler_delay_s"),
    (["strategy=krum", "scenario.num_clients=3"], "strategy.num_malicious_nodes"),
    (["lr=step", "lr.gamma=-1"], "lr"),
    (["strategy=fedprox", "strategy.proximal_mu=-1"], "strategy"),
    (["strategy=fedprox", "strategy.proximal_mu=nan"], "strategy.proximal_mu"),
    (["strategy=fedlwf", "strategy.lwf_lambda=-1"], "strategy.lwf_lambda"),
    (["strategy=fedlwf", "strategy.temperature=0"], "strategy.temperature"),
    (["strategy=fedewc", "strategy.ewc_lambda=-0.5"], "strategy.ewc_lambda"),
    (["strategy=fedewc", "strategy.fisher_samples=1.5"], "strategy.fisher_samples"),
    (["strategy=fot", "strategy.threshold=1.5"], "strategy.threshold"),
    (["strategy=fot", "strategy.samples=-1"], "strategy.samples"),
    (["strategy=fot", "strategy.project_head=maybe"], "strategy.project_head"),
    (["strategy=replay", "strategy.budget=-1"], "strategy.budget"),
    (["strategy=replay", "strategy.selection=bogus"], "strategy.selection"),
    (["data.test_fraction=2"], "data.test_fraction"),
    (["scenario.rounds_per_task=0"], "scenario"),
    (["scenario.partition=dirichlet", "scenario.alpha=-1"], "scenario"),
    (["scenario.blurry=2"], "scenario"),
    (["scenario.blurry=nan"], "scenario.blurry"),
    (["lr=step", "lr.step_rounds=0"], "lr"),
    (["lr=step", "lr.gamma=inf"], "lr.gamma"),
    (["lr=cosine", "lr.step_size=1"], "lr.step_size"),
]
LONG_NAME = "n" * 300
#: Hydra's own wording, which names an override rather than saying what is wrong with it
VAGUE = ("Error merging override", "Error parsing override", "LexerNoViable", "provider=")
PATHS = [
    (["output.root=/sys/x"], "output.root"),
    (["output.root=/proc/x"], "output.root"),
    ([f"output.name={LONG_NAME}"], "output.name"),
    (["hydra.run.dir=/sys/x/y"], "hydra.run.dir"),
    ([f"hydra.run.dir=/tmp/{LONG_NAME}"], "hydra.run.dir"),
]


def cases() -> list[tuple[list[str], str]]:
    """Every generated bad invocation as ``(args, key to name)``."""
    out: list[tuple[list[str], str]] = []
    generic = ["nan", "inf", "-inf", "abc"]
    for key in FLOAT_POSITIVE:
        out += [([f"{key}={v}"], key) for v in [*generic, "-1", "0"]]
    for key in FLOAT_NONNEG:
        out += [([f"{key}={v}"], key) for v in [*generic, "-1"]]
    for key, extra in FRACTIONS.items():
        out += [([f"{key}={v}"], key) for v in [*generic, *extra]]
    for key in INT_POSITIVE:
        out += [([f"{key}={v}"], key) for v in [*generic, "-1", "0", "1.5"]]
    for key in INT_NONNEG:
        out += [([f"{key}={v}"], key) for v in ["nan", "abc", "-1", "2.5"]]
    for key, values in ENUMS.items():
        out += [([f"{key}={v}"], key) for v in values]
    out += [([f"{group}=nosuch"], group) for group in GROUPS]
    out += [([arg], key) for arg, key in UNKNOWN + TYPES]
    return out + COMBOS + OBJECTS + PATHS


class _Accepted(BaseException):  # not an Exception: Hydra's job runner must not catch it
    pass


def classify(args: list[str], key: str, root: Path) -> tuple[str, str]:
    """Run ``fedsim.cli.main.main(args + [output.root=root])``; return (kind, stderr)."""
    from unittest import mock

    from fedsim.cli import main as cli

    ray = {"started": False}

    def fake_start(_cfg):
        ray["started"] = True
        return mock.MagicMock()

    def fake_abandon():  # the early start (fedsim.cli.main.precheck) shut down again
        ray["stopped"] = ray["started"]

    def accepted(*_a, **_k):
        ray["accepted"] = True
        raise _Accepted

    err = io.StringIO()
    argv = (
        [*args]
        if any(a.startswith("output.root=") for a in args)
        else [
            *args,
            f"output.root={root}",
        ]
    )
    kind = None
    with (
        mock.patch("fedsim.runtime.ray_start.start_ray", fake_start),
        mock.patch("fedsim.runtime.ray_start.abandon_ray_start", fake_abandon),
        mock.patch("fedsim.cli.run.run_and_record", accepted),
        contextlib.redirect_stderr(err),
    ):
        old_argv = sys.argv
        try:
            cli.main(argv)
            kind = "silent"
        except _Accepted:
            kind = "silent"
        except SystemExit as exc:
            left_running = ray["started"] and not ray.get("stopped")
            kind = _exit_kind(exc.code, err.getvalue(), key, left_running)
        except BaseException:  # noqa: BLE001 - an uncaught error is what we count
            import traceback

            traceback.print_exc(file=err)
            kind = "traceback"
        finally:
            sys.argv = old_argv
    if ray.get("accepted"):
        kind = "silent"
    return kind, err.getvalue()


def _exit_kind(code, stderr: str, key: str, ray_started: bool) -> str:
    if code != 2 or "Traceback" in stderr:
        return "traceback"
    if ray_started:
        return "after_ray"
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if len(lines) == 1 and lines[0].startswith("fedsim: error:") and key in lines[0]:
        if not any(v in lines[0] for v in VAGUE):
            return "one_line"
    return "vague"


def table(verbose: bool = False) -> dict[str, int]:
    """Classify every case; return counts per kind (print each case with ``verbose``)."""
    counts: dict[str, int] = {}
    for args, key in cases():
        with tempfile.TemporaryDirectory() as tmp:
            kind, err = classify(args, key, Path(tmp) / "runs")
            written = sorted(str(p.relative_to(tmp)) for p in Path(tmp).rglob("*"))
        counts[kind] = counts.get(kind, 0) + 1
        if verbose:
            last = err.strip().splitlines()[-1:] or [""]
            print(
                f"{kind:9s} {' '.join(args)[:60]:60s} {last[0][:150]}"
                + (f"  WROTE {written[:2]}" if written else ""),
                file=sys.__stdout__,
            )
    return counts


if __name__ == "__main__":
    from fedsim.env import set_defaults

    set_defaults()
    result = table(verbose="-v" in sys.argv)
    print(f"{len(cases())} cases:", result, file=sys.__stdout__)
