"""Helpers of the SecAgg+ tests: a 3-client run in-process, one client per node (deployment-like).

:func:`run_in_process` runs :func:`fedsim.server.app.run_server` on a
:class:`~tests.fake_grid.FakeGrid` with the deployment engine's client placement (one node per
client, state in ``context.state``) and returns the summary, the final global arrays (from the
checkpoint) and every train reply the server received. :func:`quantisation_bound` is the error
bound of SecAgg+'s weighted mean (docs/privacy.md "How close to FedAvg").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flwr.app import Message, MessageType

from fedsim import wire
from fedsim.server.state import load_checkpoint
from tests.conftest import compose
from tests.fake_grid import FakeGrid, task_identity

#: 3 clients (SecAgg+ with threshold 2 tolerates one dropout), 1 task of 2 digits, 1 round
TINY3 = [
    "scenario.num_clients=3",
    "scenario.num_tasks=1",
    "scenario.classes_per_task=2",
    "scenario.rounds_per_task=1",
    "scenario.max_arrival_delay=0",
    "train.epochs=1",
    "log.progress=false",
]


class SpyGrid(FakeGrid):
    """A FakeGrid that keeps every train reply it hands back."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.train_replies: list[Message] = []

    def _answer(self, msg: Message) -> Message:
        reply = super()._answer(msg)
        if msg.metadata.message_type == MessageType.TRAIN:
            self.train_replies.append(reply)
        return reply


def final_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    """The global arrays of a run's checkpoint, by name."""
    arrays = load_checkpoint(run_dir / "checkpoint.npz")["arrays"]
    return {k: arrays[k].numpy() for k in arrays.keys()}


def run_in_process(root: Path, *overrides: str, **grid_options) -> tuple[dict, dict, SpyGrid]:
    """(summary, final arrays, grid) of a :data:`TINY3` run with one client per node."""
    from fedsim.server.app import run_server

    cfg = compose(*TINY3, *overrides, f"output.root={root}")
    grid = SpyGrid(cfg, num_nodes=3, copy_messages=True, **grid_options)
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    with task_identity():
        run_server(
            cfg,
            grid,
            run_dir,
            state_in_message=False,
            node_of_client={c: 1000 + c for c in range(3)},
        )
    summary = json.loads((run_dir / "summary.json").read_text())
    return summary, final_arrays(run_dir), grid


def weights_of(replies: list[Message]) -> list[float]:
    """The ``num-examples`` of each plain (not secure) train reply."""
    return [float(r.content[wire.METRICS][wire.NUM_EXAMPLES]) for r in replies]


def largest_update(grid: SpyGrid) -> float:
    """max |trained - received| over the entries of a plain one-round run's train replies."""
    sent = next(m for m in grid.sent if m.metadata.message_type == MessageType.TRAIN)
    received = sent.content[wire.ARRAYS]
    return max(
        float(np.abs(r.content[wire.ARRAYS][k].numpy() - received[k].numpy()).max())
        for r in grid.train_replies
        for k in received.keys()
    )


def quantisation_bound(
    weights: list[float],
    largest: float,
    *,
    clipping_range: float = 8.0,
    quantization_range: int = 2**22,
    max_weight: float = 1000.0,
) -> float:
    """Largest |SecAgg+ mean - FedAvg mean| per entry, for one round (docs/privacy.md).

    Client i sends ``q(r_i x_i)`` with ``r_i = round(Q w_i / M) / Q``; stochastic rounding errs
    by less than one step ``2c/Q``, so the unmasked sum errs by < ``n 2c/Q`` and the mean
    (divided by ``sum r_i``) by < ``2nc / (Q sum r_i)``. The quantised weights
    (``|r_i - w_i/M| <= 1/(2Q)``) move a mean of updates bounded by ``X`` (``largest``) by at
    most ``nX / (Q sum r_i)``. Plus 1e-6 for float32 rounding of ``global + mean update``.
    """
    q, c, n = quantization_range, clipping_range, len(weights)
    r = sum(round(q * w / max_weight) / q for w in weights)
    return (2 * n * c + n * largest) / (q * r) + 1e-6
