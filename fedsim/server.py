"""The ServerApp body: build strategy, LR controller and selection from config, run the loop.

Shared by the simulation and the deployment engine; only the Grid differs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord
from flwr.serverapp import Grid

from fedsim.accuracy import AccuracyBook
from fedsim.build import build
from fedsim.client_store import ClientStore
from fedsim.experiment import get_experiment
from fedsim.logging.tensorboard import TensorBoardSink
from fedsim.reporting import Reporter, final_outputs, write_json_atomic
from fedsim.round_loop import LoopSettings, RoundLoop
from fedsim.server_state import ServerState
from fedsim.virtual_grid import VirtualGrid
from scenarios.summary import plan_markdown

STRATEGY_META_KEYS = ("name", "client_learner")
FLOWER_SAMPLING = {
    "fraction_train": 1.0,
    "fraction_evaluate": 1.0,
    "min_train_nodes": 1,
    "min_evaluate_nodes": 1,
    "min_available_nodes": 1,
}


def build_strategy(spec: Mapping[str, Any]):
    """Instantiate the strategy; the round loop, not Flower, picks each round's clients."""
    params = {k: v for k, v in spec.items() if k not in STRATEGY_META_KEYS}
    return build(params, "strategy", **FLOWER_SAMPLING)


def train_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The flat, typed items every train/evaluate ConfigRecord carries."""
    t = cfg["train"]
    return {
        "local-epochs": int(t["epochs"]),
        "batch-size": int(t["batch_size"]),
        "optimizer": str(t["optimizer"]),
        "momentum": float(t["momentum"]),
        "weight-decay": float(t["weight_decay"]),
        "client-learner": str(cfg["strategy"].get("client_learner", "weights")),
    }


def run_server(
    cfg: Mapping[str, Any],
    grid: Grid,
    run_dir: Path,
    *,
    state_in_message: bool = True,
    node_of_client: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Run a whole experiment on ``grid``; write TensorBoard logs and return the summary."""
    logging.getLogger("flwr").setLevel(cfg["log"]["flwr_level"])
    started = time.perf_counter()
    exp = get_experiment(cfg)
    strategy = build_strategy(cfg["strategy"])
    lr_controller = build(cfg["lr"], "lr", lr=float(cfg["train"]["lr"]))
    fed = cfg["federation"]
    selection = build(
        cfg["selection"],
        "selection",
        fraction=float(fed["fraction_train"]),
        min_clients=int(fed["min_clients"]),
        max_clients=fed.get("max_clients"),
        seed=exp.seed,
    )
    initial = getattr(strategy, "initial_arrays", None)  # e.g. adapters only, never the model
    state = ServerState(
        round=0,
        arrays=initial(exp) if callable(initial) else ArrayRecord(exp.make_model().state_dict()),
        book=AccuracyBook(exp.plan),
        store=ClientStore(),
    )
    sink = TensorBoardSink(run_dir / "tb")
    sink.text("scenario/plan", plan_markdown(exp.plan))
    reporter = Reporter(sink, exp.num_rounds, progress=bool(cfg["log"]["progress"]))
    strategy_tb = getattr(strategy, "tensorboard", None)  # optional strategy scalars

    def report(rnd: int, row: dict[str, Any], st: ServerState) -> None:
        reporter(rnd, row, st)
        if callable(strategy_tb):
            strategy_tb(sink, rnd)

    ev = cfg["eval"]
    settings = LoopSettings(
        num_rounds=exp.num_rounds,
        train_config=train_config(cfg),
        round_timeout=fed.get("round_timeout"),
        min_replies=int(fed["min_replies"]),
        on_too_few=str(fed["on_too_few"]),
        central_every=int(ev["central_every"]),
        client_boundary_eval=bool(ev["client_boundary"]),
        client_eval_fraction=float(ev["client_fraction"]),
    )
    vgrid = VirtualGrid(
        grid, state.store, state_in_message=state_in_message, node_of_client=node_of_client
    )
    loop = RoundLoop(
        exp=exp,
        strategy=strategy,
        grid=vgrid,
        selection=selection,
        lr_controller=lr_controller,
        faults=build(cfg["faults"], "faults", seed=exp.seed) if cfg.get("faults") else None,
        settings=settings,
        report=report,
        checkpoint=lambda st: st.save(run_dir / "checkpoint.pkl"),
    )
    try:
        state = loop.run(state)
    finally:
        reporter.close()
    summary = final_outputs(state, sink, hparams_of(cfg), time.perf_counter() - started)
    sink.close()
    summary["tensorboard_dir"] = str(run_dir / "tb")
    write_json_atomic(run_dir / "summary.json", summary)
    return summary


def hparams_of(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The hyper-parameters shown in TensorBoard's HParams dashboard."""
    sc, tr = cfg["scenario"], cfg["train"]
    return {
        "strategy": cfg["strategy"].get("name", "?"),
        "scenario": sc.get("name", "?"),
        "num_clients": sc.get("num_clients", -1),
        "seed": cfg["seed"],
        "lr": tr["lr"],
        "lr_controller": cfg["lr"].get("name", "?"),
        "local_epochs": tr["epochs"],
        "batch_size": tr["batch_size"],
        "fraction_train": cfg["federation"]["fraction_train"],
        "model": cfg["model"].get("name", "?"),
    }
