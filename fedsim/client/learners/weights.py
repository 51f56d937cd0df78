"""The weight-training client learner used by FedAvg, FedProx and the FedOpt family."""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord

from fedsim import wire
from fedsim.client.plugins.baselines import model_arrays
from fedsim.client.plugins.loop_assembly import assemble_loop
from fedsim.client.plugins.task_curriculum import evaluation_view
from fedsim.client.state import (
    ClientState,
    EvalReply,
    TrainReply,
    train_metrics,
    trained_state,
)
from fedsim.client.training_loop import evaluate
from fedsim.device import client_device, cpu_state_dict
from fedsim.experiment import Experiment
from fedsim.transport.arrays import shared_state_dict, state_dict_record
from scenarios.types import ClientStream


def evaluate_seen_tasks(
    exp: Experiment,
    model: torch.nn.Module,
    client_id: int,
    server_round: int,
    stream: ClientStream | None = None,
    *,
    order: list[int] | None = None,
    next_tasks: list[int] | None = None,
) -> EvalReply:
    """Score ``model`` on the test split of every slot started by ``server_round``, plus the next.

    The next, not-yet-seen slot gives ``A[i-1, i]`` for forward transfer. ``stream`` is the
    client's realised stream (run-time task curriculum), by default the plan's. ``order`` is
    the task ids of the positions whose task is fixed (default: every position of ``stream``);
    ``next_tasks``, when the next position's task is not decided yet, lists every candidate
    task id and each is scored (the server keeps the one the client later takes).
    """
    stream = stream or exp.plan.streams[client_id]
    seen = stream.seen_positions(server_round)
    entries = [(pos, stream.slots[pos].task_id) for pos in seen]
    if len(seen) < len(stream.slots):
        nxt = len(seen)
        tasks = next_tasks if next_tasks is not None else [stream.slots[nxt].task_id]
        entries += [(nxt, int(t)) for t in tasks]
    accs, losses, total = [], [], 0
    for pos, task_id in entries:
        task = exp.plan.tasks[task_id]
        mask = task.classes if exp.plan.task_incremental else None
        loss, acc, n = evaluate(
            model,
            exp.data.x_test[task.test_idx],
            exp.data.y_test[task.test_idx],
            class_mask=mask,
            transform=exp.transform_for(task.task_id),
        )
        accs.append(acc)
        if pos in seen:
            losses.append(loss)
            total += n
    seen_accs = accs[: len(seen)]
    metrics = {
        wire.EVAL_LOSS: float(np.mean(losses)) if losses else 0.0,
        wire.EVAL_ACC: float(np.mean(seen_accs)) if seen_accs else 0.0,
        wire.NUM_EXAMPLES: int(max(total, 1)),
        wire.REPLY_CLIENT_ID: int(client_id),
    }
    return EvalReply(
        metrics=metrics,
        positions=[pos for pos, _ in entries],
        accuracies=[float(a) for a in accs],
        task_ids=[int(t) for _, t in entries],
        order=[int(s.task_id) for s in stream.slots] if order is None else list(order),
    )


def received_model(exp: Experiment, arrays: ArrayRecord) -> torch.nn.Module:
    """A fresh model holding the received global ``arrays``, on the client's device."""
    model = exp.make_model()
    model.load_state_dict(shared_state_dict(arrays))
    return model.to(client_device(exp.cfg))


class WeightsLearner:
    """Train the whole model on the active task; send the weights back."""

    def train(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> TrainReply:
        """Run the local training loop on the client's active slot."""
        model = received_model(exp, arrays)
        loop = assemble_loop(exp, client_id, server_round, config, state, model)
        slot = loop.slot
        difficulty = loop.difficulty_metrics(model, config)
        mask = exp.plan.tasks[slot.task_id].classes if exp.plan.task_incremental else None
        result = loop.train(model, class_mask=mask)
        local_scoring = config.get(wire.CURRICULUM_SCORING) == "local"
        new_state = trained_state(
            state,
            loop.state_items(),
            loop.state_arrays(
                ArrayRecord(cpu_state_dict(model)) if local_scoring else model_arrays(state.arrays)
            ),
        )
        metrics = train_metrics(
            client_id, slot.task_id, result.loss, result.num_examples, result.final_lr
        )
        metrics.update(difficulty)
        metrics.update(loop.baselines.metrics)
        metrics.update({k: float(v) for k, v in result.metrics.items()})
        reply = state_dict_record(cpu_state_dict(model))  # = ArrayRecord(...), cheaper
        extra = {}
        if loop.baselines.send:  # FOT: the ended task's representation factors
            sent = {k: Array(v) for k, v in loop.baselines.send.items()}
            extra[wire.FOT_REPRESENTATION] = ArrayRecord(sent)
        return TrainReply(arrays=reply, metrics=metrics, state=new_state, extra=extra)

    def evaluate(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> EvalReply:
        """Score the received global model on the client's seen tasks."""
        model = received_model(exp, arrays)
        view = evaluation_view(exp, client_id, server_round, config, state.config)
        return evaluate_seen_tasks(
            exp, model, client_id, server_round, view.stream, order=view.order,
            next_tasks=view.next_tasks,
        )
