"""The ServerApp body: build strategy, LR controller and selection from config, run the loop.

Shared by the simulation and the deployment engine; only the Grid differs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord
from flwr.serverapp import Grid

from fedsim import wire
from fedsim.experiment import get_experiment
from fedsim.faults.models import NoFaults
from fedsim.interfaces import (
    ClientSelection,
    Curriculum,
    LRController,
    require,
    strategy_hooks,
)
from fedsim.logging.tensorboard import TensorBoardSink
from fedsim.metrics.accuracy_book import AccuracyBook
from fedsim.resolver import build
from fedsim.server.health import assess
from fedsim.server.privacy import (
    privacy_items,
    privacy_summary,
    static_scalars,
    wrap_strategy,
)
from fedsim.server.reporter import Reporter, final_outputs, write_json_atomic
from fedsim.server.round_loop import LoopSettings, RoundLoop
from fedsim.server.round_record import RoundRecord
from fedsim.server.secagg import NORMS_SKIPPED, SecAggSettings
from fedsim.server.state import CHECKPOINT_NAME, Components, ServerState, load_checkpoint
from fedsim.transport import weighted_mean
from fedsim.transport.client_store import ClientStore
from fedsim.transport.virtual_grid import VirtualGrid
from scenarios.summary import plan_markdown

STRATEGY_META_KEYS = ("name", "client_learner", "plugins")
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


def build_lr_controller(cfg: Mapping[str, Any], model: torch.nn.Module) -> LRController:
    """Build the LR controller of ``configs/lr`` for ``model`` (its buffers are not updates)."""
    buffers = sorted(name for name, _ in model.named_buffers())
    controller = build(cfg["lr"], "lr", lr=float(cfg["train"]["lr"]), buffer_keys=buffers)
    require(controller, LRController, "lr")
    return controller


def build_faults(cfg: Mapping[str, Any], seed: int, num_clients: int):
    """Build the fault model of ``configs/faults`` (None when the config has none)."""
    if not cfg.get("faults"):
        return None
    return build(cfg["faults"], "faults", seed=seed, num_clients=num_clients)


def train_config(
    cfg: Mapping[str, Any], selection: ClientSelection | None = None
) -> dict[str, Any]:
    """The flat, typed items every train/evaluate ConfigRecord carries.

    The ``selection``'s :meth:`~fedsim.interfaces.ClientSelection.client_config` adds its
    items (the client curriculum asks clients to report ``difficulty``; without it the
    forward pass is skipped).
    """
    t = cfg["train"]
    return {
        wire.LOCAL_EPOCHS: int(t["epochs"]),
        wire.BATCH_SIZE: int(t["batch_size"]),
        wire.OPTIMIZER: str(t["optimizer"]),
        wire.MOMENTUM: float(t["momentum"]),
        wire.WEIGHT_DECAY: float(t["weight_decay"]),
        wire.CLIENT_LEARNER: str(cfg["strategy"].get("client_learner", "weights")),
        **plugin_items(cfg),
        **curriculum_items(cfg),
        **(selection.client_config() if selection is not None else {}),
        **privacy_items(cfg),
    }


def plugin_items(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``strategy.plugins`` (entry point names of ``fedsim.plugins``) for the clients, if any."""
    names = [str(n) for n in cfg["strategy"].get("plugins") or []]
    return {wire.PLUGINS: ",".join(names)} if names else {}


def curriculum_items(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The curriculum's flat client items (data-level curriculum), if it defines any."""
    spec = cfg.get("curriculum")
    if not spec:
        return {}
    curriculum = build(spec, "curriculum")
    require(curriculum, Curriculum, "curriculum")
    return dict(curriculum.client_config())


def build_selection(cfg: Mapping[str, Any], exp) -> ClientSelection:
    """The client selection of ``configs/selection``, bound to the run's length and size."""
    fed = cfg["federation"]
    selection = build(
        cfg["selection"],
        "selection",
        fraction=float(fed["fraction_train"]),
        min_clients=int(fed["min_clients"]),
        max_clients=fed.get("max_clients"),
        seed=exp.seed,
    )
    require(selection, ClientSelection, "selection")
    selection.bind(num_rounds=exp.num_rounds, num_clients=exp.plan.num_clients)
    return selection


CENTRAL_SKIPPED = (
    "skipped: the server holds no test set (data=node_local without data.path); "
    "accuracies come from the clients' own evaluation"
)


def loop_settings(
    cfg: Mapping[str, Any], exp, selection: ClientSelection | None = None
) -> LoopSettings:
    """The round loop's knobs from ``federation.*``, ``eval.*`` and ``output.*``."""
    fed, ev = cfg["federation"], cfg["eval"]
    return LoopSettings(
        num_rounds=exp.num_rounds,
        train_config=train_config(cfg, selection),
        round_timeout=fed.get("round_timeout"),
        min_replies=int(fed["min_replies"]),
        on_too_few=str(fed["on_too_few"]),
        central_every=int(ev["central_every"]),
        central_eval=len(exp.data.y_test) > 0,
        client_boundary_eval=bool(ev["client_boundary"]),
        client_eval_fraction=float(ev["client_fraction"]),
        panel_size=ev.get("panel_size"),
        checkpoint_every=int(cfg["output"].get("checkpoint_every", 1)),
        privacy=static_scalars(cfg),
        secagg=SecAggSettings.from_config(cfg),
    )


def run_server(
    cfg: Mapping[str, Any],
    grid: Grid,
    run_dir: Path,
    *,
    state_in_message: bool = True,
    node_of_client: dict[int, int] | None = None,
    max_messages: int | None = None,
    resume: bool = False,
    strict_protocol: bool = False,
) -> dict[str, Any]:
    """Run a whole experiment on ``grid``; write TensorBoard logs and return the summary.

    After every ``output.checkpoint_every`` rounds the whole server state is saved to
    ``run_dir/checkpoint.npz`` (:mod:`fedsim.server.state`). With ``resume`` it is loaded
    (refused if written under another config), every component's state is restored — strategy,
    LR controller, selection, fault model, deadline bookkeeping, client store, accuracies,
    history — and the run continues from the next round; TensorBoard events after the
    checkpoint are purged. ``strict_protocol`` (deployment engine): a reply that lacks a key of
    fedsim's client protocol fails the run with :class:`~fedsim.errors.ProtocolError` naming
    the node and the key, instead of being dropped.
    """
    logging.getLogger("flwr").setLevel(cfg["log"]["flwr_level"])
    started = time.perf_counter()
    weighted_mean.install()  # Flower's FedAvg mean, reply arrays decoded without np.load
    exp = get_experiment(cfg)
    strategy = wrap_strategy(
        build_strategy(cfg["strategy"]), cfg, num_clients=exp.plan.num_clients, seed=exp.seed
    )
    lr_controller = build_lr_controller(cfg, exp.make_model())
    selection = build_selection(cfg, exp)
    faults = build_faults(cfg, exp.seed, exp.plan.num_clients)
    state = ServerState(
        round=0,
        arrays=ArrayRecord(exp.make_model().state_dict()),
        book=AccuracyBook(exp.plan),
        store=ClientStore(),
    )
    hooks = strategy_hooks(strategy)
    state.arrays = hooks.initial_arrays(exp, state.arrays)  # prototype bank, adapters
    vgrid = VirtualGrid(
        grid,
        state.store,
        state_in_message=state_in_message,
        node_of_client=node_of_client,
        max_messages=max_messages,
    )
    parts = Components(strategy, lr_controller, selection, faults or NoFaults(), vgrid)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    resumed_from = None
    if resume:
        state.load_into(load_checkpoint(checkpoint_path, config=cfg))
        state.restore(parts)
        resumed_from = state.round
    sink = TensorBoardSink(run_dir / "tb", purge_step=None if not resume else state.round + 1)
    hooks.set_sink(sink)  # strategy-specific TensorBoard output
    if not resume:
        sink.text("scenario/plan", plan_markdown(exp.plan, labels=exp.data.y_train))
    reporter = Reporter(
        sink,
        exp.num_rounds,
        progress=bool(cfg["log"]["progress"]),
        matrix_clients=cfg["log"].get("matrix_clients", ()),
        matrix_every=int(cfg["log"].get("matrix_every", 1)),
    )

    def report(rnd: int, record: RoundRecord, st: ServerState) -> None:
        reporter(rnd, record, st)
        hooks.tensorboard(sink, rnd)  # the strategy's own scalars

    def save(st: ServerState) -> None:
        st.capture(parts)
        st.save(checkpoint_path, config=cfg)

    loop = RoundLoop(
        exp=exp,
        strategy=strategy,
        grid=vgrid,
        selection=selection,
        lr_controller=lr_controller,
        faults=faults,
        settings=replace(loop_settings(cfg, exp, selection), strict_protocol=strict_protocol),
        report=report,
        checkpoint=save,
    )
    try:
        state = loop.run(state)
    finally:
        reporter.close()
    if not loop.s.central_eval:
        sink.text("eval/central", CENTRAL_SKIPPED)
    if loop.s.secagg is not None:  # the server never saw an update to take the norm of
        sink.text("updates/norm_mean", NORMS_SKIPPED)
    summary = final_outputs(state, sink, hparams_of(cfg), time.perf_counter() - started)
    sink.close()
    if not loop.s.central_eval:
        summary["central_eval"] = CENTRAL_SKIPPED
    summary["tensorboard_dir"] = str(run_dir / "tb")
    summary["resumed_from_round"] = resumed_from
    strategy_items = hooks.summary_items()  # e.g. FOT's bases
    if strategy_items:
        summary["strategy"] = strategy_items
    summary.update(assess(state.history, summary["final"].get("acc"), cfg["federation"]))
    spec = cfg.get("privacy") or {}
    if spec.get("mode", "none") != "none" or spec.get("secagg", False):
        summary["privacy"] = privacy_summary(cfg, state.history)
    write_json_atomic(run_dir / "summary.json", summary)
    return summary


def hparams_of(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The hyper-parameters shown in TensorBoard's HParams dashboard (the flattened config)."""
    from fedsim.logging.hparams import hparams_of as flat_hparams

    return flat_hparams(cfg)
