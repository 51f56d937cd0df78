"""The adapter client learner: train only adapters on a frozen backbone, send only adapters.

Used by :class:`strategies.adapter_avg.AdapterAvg` and :class:`strategies.adapter_bank.AdapterBank`;
the layout (slots, groups, routing) arrives from the strategy in the message config
(``fedsim.adapter-layout``), so client and server always agree.
The backbone is rebuilt from config on the client (``fedsim.adapters.backbone``) and frozen:
the local training loop only optimises parameters with ``requires_grad`` (the adapters and,
if ``train_head``, the head). Personal task adapters live in ``ClientState.arrays`` (keys
``task<t>/...``) and never enter the reply.
"""

from __future__ import annotations

from flwr.app import Array, ArrayRecord, ConfigRecord

from fedsim import wire
from fedsim.adapters.bank import join_groups, split_groups, task_group
from fedsim.adapters.evaluation import (
    initial_entry,
    initial_groups,
    task_accuracies,
    trained_tasks,
)
from fedsim.adapters.layout import AdapterLayout
from fedsim.adapters.model import parameter_counts
from fedsim.client.plugins.loop_assembly import LoopSupport, assemble_loop, realised_stream
from fedsim.client.plugins.task_curriculum import evaluation_view
from fedsim.client.state import (
    ClientState,
    EvalReply,
    TrainReply,
    train_metrics,
    trained_state,
)
from fedsim.device import client_device
from fedsim.experiment import Experiment


class AdapterLearner:
    """Load the adapters of the client's active task, train them, return them."""

    def train(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> TrainReply:
        """Train the adapters of the active slot; frozen backbone parameters never change."""
        layout = _layout(config)
        stream = realised_stream(exp, client_id, server_round, config, state)
        t = stream.active_slot(server_round).task_id
        groups = split_groups(arrays)
        personal = split_groups(state.arrays) if state.arrays is not None else {}
        if layout.task_adapters == "personal":
            groups[task_group(t)] = personal.get(task_group(t)) or initial_entry(exp, layout, t)
        per_task = layout.task_adapters != "none"
        model = layout.make_model(exp)
        layout.load(model, groups, t if per_task else None)
        model.to(client_device(exp.cfg))  # adapters and optimiser state on the device
        loop = assemble_loop(
            exp, client_id, server_round, config, state, model,
            support=LoopSupport(local_scoring=False),
            make_model=lambda: layout.make_model(exp),
            shared=_delta_by_parameter(exp, layout, state, t if per_task else None),
        )
        if per_task and loop.slot.task_id != t:
            raise ValueError(
                f"{wire.CURRICULUM_TASK_ORDER}: a run-time task order cannot choose the task "
                "of per-task adapters (the server routes them by the planned order)"
            )
        t = loop.slot.task_id
        difficulty = loop.difficulty_metrics(model, config)
        result = loop.train(model)
        model.cpu()  # adapters leave as numpy: to the wire and the personal bank
        out = layout.export(model, t if per_task else None)
        if layout.task_adapters == "personal":
            personal[task_group(t)] = out.pop(task_group(t))
        trainable, total = parameter_counts(model)
        metrics = {
            **train_metrics(client_id, t, result.loss, result.num_examples, result.final_lr),
            wire.TRAINABLE_PARAMS: int(trainable),
            wire.TOTAL_PARAMS: int(total),
        }
        metrics.update(difficulty)
        metrics.update({k: float(v) for k, v in result.metrics.items()})
        new_state = trained_state(
            state, loop.state_items(), join_groups(personal) if personal else state.arrays
        )
        return TrainReply(arrays=join_groups(out), metrics=metrics, state=new_state)

    def evaluate(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> EvalReply:
        """Score every seen slot (plus the next) with the adapters the client would use."""
        layout = _layout(config)
        view = evaluation_view(exp, client_id, server_round, config, state.config)
        stream = view.stream
        seen = stream.seen_positions(server_round)
        entries = [(p, int(stream.slots[p].task_id)) for p in seen]
        if len(seen) < len(stream.slots):  # the next slot (each candidate when undecided)
            nxt = len(seen)
            nexts = view.next_tasks if view.next_tasks is not None else [stream.slots[nxt].task_id]
            entries += [(nxt, int(t)) for t in nexts]
        task_ids = [t for _, t in entries]
        groups = split_groups(arrays)
        candidates = None
        if layout.task_adapters == "personal":
            personal = split_groups(state.arrays) if state.arrays is not None else {}
            candidates = sorted(int(g[len("task") :]) for g in personal)
            groups.update(personal)
            for t in task_ids:
                groups.setdefault(task_group(t), initial_entry(exp, layout, t))
        elif layout.task_adapters == "federated":
            candidates = trained_tasks(groups, initial_groups(exp, layout))
        scores = task_accuracies(
            exp, layout, groups, task_ids, candidates, device=client_device(exp.cfg)
        )
        accs = [a for a, _ in scores]
        seen_scores = scores[: len(seen)]
        n_seen = sum(len(exp.plan.tasks[t].test_idx) for t in task_ids[: len(seen)])
        metrics = {
            wire.EVAL_LOSS: float(sum(loss for _, loss in seen_scores) / max(len(seen_scores), 1)),
            wire.EVAL_ACC: float(sum(a for a, _ in seen_scores) / max(len(seen_scores), 1)),
            wire.NUM_EXAMPLES: int(max(n_seen, 1)),
            wire.REPLY_CLIENT_ID: int(client_id),
        }
        return EvalReply(
            metrics=metrics,
            positions=[p for p, _ in entries],
            accuracies=[float(a) for a in accs],
            task_ids=task_ids,
            order=list(view.order),
        )


def _layout(config: ConfigRecord) -> AdapterLayout:
    if wire.ADAPTER_LAYOUT not in config:
        raise ValueError(
            f"config '{wire.ADAPTER_LAYOUT}' is missing: the adapters learner needs an adapter "
            "strategy (strategies.adapter_avg / strategies.adapter_bank)"
        )
    return AdapterLayout.from_json(str(config[wire.ADAPTER_LAYOUT]))


def _delta_by_parameter(
    exp: Experiment, layout: AdapterLayout, state: ClientState, task_id: int | None
) -> dict[str, ArrayRecord]:
    """FedHyper-CL's ``Delta_{t-1}`` (adapter-group keys) renamed to the model's parameters.

    The update is loaded into a probe model exactly as the adapters are, so its trainable
    parameters carry ``Delta_{t-1}`` under the names the hypergradient plugin looks up;
    a group absent from the update (first round, new task) counts as zeros.
    """
    delta = state.shared.get(wire.LR_ARRAYS)
    if delta is None or len(delta) == 0:
        return dict(state.shared)
    probe = layout.make_model(exp)
    try:
        layout.load(probe, split_groups(delta), task_id)
    except (KeyError, ValueError):
        return {}
    named = {
        n: Array(p.detach().numpy().copy()) for n, p in probe.named_parameters() if p.requires_grad
    }
    return {**state.shared, wire.LR_ARRAYS: ArrayRecord(named)}
