"""Client side of the run-time task curriculum: score upcoming tasks at a task boundary.

Vahidian et al., "When Do Curricula Work in Federated Learning?" (ICCV 2023) score data with the
current global model ("G-Loss"); here a client does the same with its *tasks*: the first time
it trains in position ``p`` of its stream, it scores every candidate task (not started yet,
same slot length as position ``p``, see :mod:`scenarios.curricula.runtime_order`) by the mean
loss of the received global model on the client's training data of that task, and trains the
easiest (``curriculum``), the hardest (``anti``) or a random one.

The decisions (plan positions in realised order) live in the client's state under
:data:`fedsim.wire.CURRICULUM_DECIDED`; they travel with the message in simulation and come
back to the server's client store, and every later train or evaluate message of the client
uses the realised stream, so the client's accuracy matrix is in the order the client really
met its tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from fedsim import wire
from fedsim.client.plugins.data_curriculum import example_losses
from fedsim.seeding import rng_for
from scenarios.curricula.runtime_order import candidates, choose_next, realised_stream
from scenarios.types import ClientStream


def task_scores(exp, stream: ClientStream, positions: list[int], model: nn.Module) -> dict:
    """Mean loss of ``model`` on the client's train data of each plan position."""
    out = {}
    for pos in positions:
        slot = stream.slots[pos]
        losses = example_losses(
            model,
            exp.data.x_train[slot.train_idx],
            exp.data.y_train[slot.train_idx],
            transform=exp.transform_for(slot.task_id),
        )
        out[pos] = float(np.mean(losses)) if len(losses) else 0.0
    return out


def stream_for(
    exp,
    client_id: int,
    server_round: int,
    config,
    state_config: dict,
    model: nn.Module | None = None,
) -> tuple[ClientStream, list[int]]:
    """Return the client's realised stream and its decisions (updated when training).

    Parameters
    ----------
    exp : fedsim.experiment.Experiment
        The experiment (plan and data).
    client_id, server_round : int
        The client and the round.
    config : flwr.app.ConfigRecord
        The round config (``curriculum.task-order`` switches the run-time ordering on).
    state_config : dict
        The client's state items (holding :data:`wire.CURRICULUM_DECIDED`).
    model : torch.nn.Module, optional
        The received global model; decisions are only taken when given (training).
    """
    plan_stream = exp.plan.streams[client_id]
    decided = [int(p) for p in state_config.get(wire.CURRICULUM_DECIDED, [])]
    ordering = config.get(wire.CURRICULUM_TASK_ORDER)
    if ordering is None:
        return plan_stream, decided
    pos = plan_stream.slot_at(server_round)
    while model is not None and pos is not None and len(decided) <= pos:
        options = candidates(plan_stream, decided)
        rng = rng_for(exp.seed, "task-curriculum", client_id, len(decided))
        scores = {p: 0.0 for p in options}
        if str(ordering) != "random":
            scores = task_scores(exp, plan_stream, options, model)
        decided.append(choose_next(scores, str(ordering), rng))
    return realised_stream(plan_stream, decided), decided


@dataclass(frozen=True)
class EvaluationView:
    """What a client evaluates: its stream, the fixed part of its order, the next candidates.

    ``order`` holds the task ids of the positions whose task is fixed (every position for a
    static order; the decided prefix under the run-time curriculum). ``next_tasks`` is None
    when the next position's task is known; otherwise every task id that may still fill it.
    """

    stream: ClientStream
    order: list[int]
    next_tasks: list[int] | None


def evaluation_view(
    exp, client_id: int, server_round: int, config, state_config: dict
) -> EvaluationView:
    """The realised stream to evaluate, without taking decisions (see :func:`stream_for`).

    Under the run-time task curriculum the client has not yet chosen the task of the next
    position at a task boundary (it chooses when it first trains there), so ``A[i-1, i]`` is
    measured on every candidate and the server keeps the one later taken.
    """
    stream, decided = stream_for(exp, client_id, server_round, config, state_config)
    if config.get(wire.CURRICULUM_TASK_ORDER) is None:
        return EvaluationView(stream, [int(s.task_id) for s in stream.slots], None)
    plan_stream = exp.plan.streams[client_id]
    order = [int(plan_stream.slots[p].task_id) for p in decided]
    nxt = len(stream.seen_positions(server_round))
    if nxt >= len(stream.slots) or nxt < len(decided):
        return EvaluationView(stream, order, None)
    want = stream.slots[nxt].end_round - stream.slots[nxt].start_round
    taken = set(decided)
    open_positions = [
        p
        for p in range(len(plan_stream.slots))
        if p not in taken
        and plan_stream.slots[p].end_round - plan_stream.slots[p].start_round == want
    ]
    # undecided positions seen before ``nxt`` (client not trained there yet) may still take
    # any of these tasks, so every undecided task of the right length is a candidate
    tasks = [int(plan_stream.slots[p].task_id) for p in open_positions]
    return EvaluationView(stream, order, tasks)
