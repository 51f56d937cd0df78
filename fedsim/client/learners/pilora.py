"""The PILoRA client learner: incremental LoRA + learnable prototypes in the one local loop.

A composition of existing pieces (used by :class:`strategies.pilora.PILoRA`):

* the model is the adapter stack's frozen backbone (:mod:`fedsim.adapters.backbone`) with the
  current task's LoRA trainable and the earlier tasks' LoRA frozen and summed
  (:func:`fedsim.adapters.incremental.incremental_model`);
* on top, a :class:`~fedsim.models.distance_classifier.DistanceClassifier` whose logits are
  negative distances to class prototypes, so the loop's cross-entropy is PILoRA's DCE; the
  prototypes of the client's current classes are trained, the others are the global bank;
* the loop is the one of every learner (:func:`fedsim.client.plugins.loop_assembly.assemble_loop`)
  with two plugins: FedProto's :class:`~fedsim.client.plugins.prototype_loss.PrototypeLoss`
  on the *learnable* prototypes (PILoRA's ``l_pl``) and
  :class:`~fedsim.client.plugins.orthogonal_lora.OrthogonalLoRA` (``l_ort``).

The reply holds the current task's LoRA entry (``task<t>/...``), the learned prototypes of the
client's current classes with their example counts (``proto.classes/means/counts``) and the
class-mean features of its data under the trained model (``proto.features``, eval mode; the
official code averages train-mode features of every local step).
"""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord

from fedsim import wire
from fedsim.adapters.bank import task_group, task_of
from fedsim.adapters.incremental import earlier_slot, incremental_model, join_payload, split_payload
from fedsim.adapters.layout import TASK_SLOT, AdapterLayout
from fedsim.adapters.model import parameter_counts, slot_state
from fedsim.client.learners.weights import evaluate_seen_tasks
from fedsim.client.plugins.loop_assembly import LoopSupport, assemble_loop, realised_stream
from fedsim.client.plugins.orthogonal_lora import OrthogonalLoRA, lora_a_pairs
from fedsim.client.plugins.prototype_loss import PrototypeLoss
from fedsim.client.plugins.task_curriculum import evaluation_view
from fedsim.client.state import ClientState, EvalReply, TrainReply, train_metrics, trained_state
from fedsim.device import client_device
from fedsim.experiment import Experiment
from fedsim.models.distance_classifier import DistanceClassifier
from fedsim.models.prototype_head import class_means
from scenarios.types import TaskSlot
from strategies.pilora import inference_model
from strategies.prototypes import Contribution, bank_from_arrays, contribution_to_arrays


def _layout(config: ConfigRecord) -> AdapterLayout:
    if wire.ADAPTER_LAYOUT not in config:
        raise ValueError(f"config '{wire.ADAPTER_LAYOUT}' is missing: pilora needs its strategy")
    return AdapterLayout.from_json(str(config[wire.ADAPTER_LAYOUT]))


def build_classifier(
    exp: Experiment,
    layout: AdapterLayout,
    arrays: ArrayRecord,
    task_id: int,
    slot: TaskSlot,
    temperature: float,
) -> DistanceClassifier:
    """Incremental-LoRA network + distance classifier for training ``task_id`` on ``slot``.

    Every adapter group of ``arrays`` other than ``task<task_id>`` is an earlier task (the
    server sends the trained ones). The prototypes of the classes in the slot's data start
    from the global bank where it has them, else from the class means of the local
    embeddings (the official code starts them at ``0.1 N(0, 1)``); the softmax runs over
    these classes and every class with a global prototype.
    """
    groups, bank = split_payload(arrays)
    if task_group(task_id) not in groups:
        raise ValueError(f"the message carries no LoRA entry for task {task_id}")
    earlier = sorted(t for t in map(task_of, groups) if t is not None and t != task_id)
    net = incremental_model(exp, layout, groups, task_id, earlier)
    means, counts = bank_from_arrays(bank)
    x, y = exp.data.x_train[slot.train_idx], exp.data.y_train[slot.train_idx]
    classes, local, _ = class_means(net, x, y, transform=exp.transform_for(slot.task_id))
    centers = means.copy()
    fresh = counts[classes] <= 0
    centers[classes[fresh]] = local[fresh]
    active = counts > 0
    active[classes] = True
    return DistanceClassifier(net, centers, active, classes.tolist(), temperature)


def _contribution(model: DistanceClassifier, slot_x, slot_y, transform) -> dict[str, Array]:
    """Learned prototypes, counts and class-mean features of the client's current classes."""
    classes, features, counts = class_means(model.net, slot_x, slot_y, transform=transform)
    with torch.no_grad():
        learned = model.centers()[torch.as_tensor(classes)].cpu().numpy()
    out = contribution_to_arrays(Contribution(classes, learned, counts))
    out[wire.PROTO_FEATURES] = Array(np.ascontiguousarray(features, dtype=np.float32))
    return out


def _plugins(
    model: DistanceClassifier, config: ConfigRecord, arrays: ArrayRecord, task_id: int
) -> list:
    """PILoRA's two loop plugins: ``gamma l_ort`` and ``lambda l_pl`` on learnable prototypes."""
    groups, _ = split_payload(arrays)
    earlier = sorted(s for s in map(task_of, groups) if s is not None and s != task_id)
    current, previous = lora_a_pairs(model.net, TASK_SLOT, [earlier_slot(s) for s in earlier])
    plugins = [OrthogonalLoRA(current, previous, float(config.get(wire.PILORA_ORTHO, 0.0)))]
    lam = float(config.get(wire.PROTO_LAMBDA, 0.0))
    if lam > 0:
        known = np.ones(int(model.fixed.shape[0]))  # every class has a (learnable) prototype
        plugins.append(PrototypeLoss(model.centers, known, lam))
    return plugins


def _metrics(client_id: int, task_id: int, result, model: DistanceClassifier) -> dict:
    """The reply's metrics; every reply carries the same keys (Flower aggregates them)."""
    trainable, total = parameter_counts(model)
    metrics = {
        **train_metrics(client_id, task_id, result.loss, result.num_examples, result.final_lr),
        wire.TRAINABLE_PARAMS: int(trainable),
        wire.TOTAL_PARAMS: int(total),
        wire.PILORA_ORTHO_TERM: float(result.metrics.get(wire.PILORA_ORTHO_TERM, 0.0)),
        wire.PROTO_DISTANCE: float(result.metrics.get(wire.PROTO_DISTANCE, 0.0)),
    }
    metrics.update({k: float(v) for k, v in result.metrics.items() if k not in metrics})
    return metrics


class PILoRALearner:
    """Train the current task's LoRA and prototypes; send them with the class features."""

    def train(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> TrainReply:
        """One round of PILoRA's local objective ``l_dce + lambda l_pl + gamma l_ort``."""
        layout = _layout(config)
        stream = realised_stream(exp, client_id, server_round, config, state)
        slot = stream.active_slot(server_round)
        t = slot.task_id
        temperature = float(config.get(wire.PILORA_TEMPERATURE, 1.0))

        def fresh() -> DistanceClassifier:
            return build_classifier(exp, layout, arrays, t, slot, temperature)

        model = fresh().to(client_device(exp.cfg))
        loop = assemble_loop(
            exp, client_id, server_round, config, state, model,
            support=LoopSupport(local_scoring=False), make_model=fresh,
        )
        if loop.slot.task_id != t:
            raise ValueError(
                f"{wire.CURRICULUM_TASK_ORDER}: a run-time task order cannot choose the task "
                "of per-task LoRA (the server routes them by the planned order)"
            )
        difficulty = loop.difficulty_metrics(model, config)
        result = loop.train(model, extra_plugins=_plugins(model, config, arrays, t))
        model.cpu()  # tensors leave as numpy
        entry = slot_state(model.net, layout.spec, TASK_SLOT, None)
        payload = join_payload(
            {task_group(t): entry},
            ArrayRecord(_contribution(model, loop.x, loop.y, loop.transform)),
        )
        metrics = _metrics(client_id, t, result, model)
        metrics.update(difficulty)
        new_state = trained_state(state, loop.state_items(), state.arrays)
        return TrainReply(arrays=payload, metrics=metrics, state=new_state)

    def evaluate(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> EvalReply:
        """Score the global model (every LoRA summed, nearest prototype) on the seen tasks."""
        model = inference_model(exp, _layout(config), arrays).to(client_device(exp.cfg))
        view = evaluation_view(exp, client_id, server_round, config, state.config)
        return evaluate_seen_tasks(
            exp, model, client_id, server_round, view.stream,
            order=view.order, next_tasks=view.next_tasks,
        )
