"""The prototype client learner used by Federated Reconnaissance and FedProto.

What a round does is chosen by the strategy through ConfigRecord items (``proto.*`` in
:mod:`fedsim.wire`), so one learner serves both methods:

* ``proto.model``: ``"global"`` - the embedding net arrives in the message (Fed-Recon);
  ``"personal"`` - the client's own model lives in its :class:`ClientState` and never travels
  (FedProto). Personal models may differ per client (``proto.client-models``: a JSON list of
  model-config overrides, client ``c`` takes entry ``c % len``), sharing the embedding dim.
* ``proto.train``: run the one local training loop (cross-entropy + ``proto.lambda`` times
  FedProto's prototype distance, :class:`~fedsim.client.plugins.prototype_loss.PrototypeLoss`).
* ``proto.send``: when to contribute class means - ``"every-round"`` (the active slot),
  ``"once-per-slot"`` (every started slot not contributed yet, so each slot's data is
  counted exactly once and the slots of Fed-Recon's base phase are contributed under the
  frozen encoder the first time the client trains after it) or ``"never"``.

The loop itself (realised task stream, FedHyper-CL, data curriculum, proximal term) is
assembled by :func:`fedsim.client.plugins.loop_assembly.assemble_loop`, as for every learner.
* ``proto.inference``: ``"prototype"`` (nearest global prototype over every class the
  federation knows) or ``"head"`` (the network's own linear classifier).

The reply's ArrayRecord holds the weights (when ``proto.send-weights``) and the sparse
contribution ``proto.classes/means/counts`` (empty, ``k = 0``, when nothing is sent).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord
from torch import nn

from fedsim import wire
from fedsim.client.learners.weights import evaluate_seen_tasks
from fedsim.client.plugins.loop_assembly import assemble_loop
from fedsim.client.plugins.prototype_loss import PrototypeLoss
from fedsim.client.plugins.prototype_noise import (
    clipped_class_sums,
    noisy_means,
    release_steps,
)
from fedsim.client.plugins.task_curriculum import evaluation_view
from fedsim.client.state import (
    ClientState,
    EvalReply,
    TrainReply,
    train_metrics,
    trained_state,
)
from fedsim.device import client_device, cpu_state_dict
from fedsim.experiment import Experiment
from fedsim.models.prototype_head import class_means
from fedsim.privacy import accountant
from fedsim.seeding import rng_for
from scenarios.types import ClientStream, TaskSlot
from strategies.prototypes import (
    Contribution,
    bank_from_arrays,
    classifier_for,
    contribution_to_arrays,
    without_bank,
)

SEND_MODES = ("never", "once-per-slot", "every-round")


def model_spec_for(exp: Experiment, config: ConfigRecord, client_id: int) -> dict[str, Any]:
    """The model config of ``client_id``: ``model`` merged with its override, if any."""
    base = dict(exp.cfg["model"])
    raw = str(config.get(wire.PROTO_MODELS, ""))
    overrides = json.loads(raw) if raw else []
    if overrides:
        base.update(dict(overrides[client_id % len(overrides)]))
    return base


def _client_model(
    exp: Experiment, arrays: ArrayRecord, config: ConfigRecord, state: ClientState, cid: int
) -> nn.Module:
    if str(config.get(wire.PROTO_MODEL, "global")) == "global":
        model = exp.make_model()
        model.load_state_dict(without_bank(arrays).to_torch_state_dict())
        return model
    model = exp.make_model(model_spec_for(exp, config, cid))
    if state.arrays is not None:
        model.load_state_dict(state.arrays.to_torch_state_dict())
    return model


def positions_to_send(
    mode: str, stream: ClientStream, server_round: int, position: int, sent: list[int]
) -> list[int]:
    """Slot positions whose class means the client contributes this round.

    ``"every-round"``: the active slot. ``"once-per-slot"``: every slot started by
    ``server_round`` and not contributed yet - the active one, and the slots that ended while
    contributions were off (Fed-Recon's base phase) or while the client was not selected - so
    each slot's data is counted exactly once. ``"never"``: none.
    """
    if mode == "every-round":
        return [position]
    if mode == "once-per-slot":
        done = set(sent)
        return [p for p in stream.seen_positions(server_round) if p not in done]
    return []


def slot_contribution(
    exp: Experiment, model: nn.Module, slot: TaskSlot, noise: tuple | None = None
) -> Contribution:
    """Class means of ``model``'s embeddings of one slot's training data (its transform).

    ``noise = (clip, z, rng)``: the noisy release of
    :mod:`fedsim.client.plugins.prototype_noise` over the slot's task classes.
    """
    x, y = exp.data.x_train[slot.train_idx], exp.data.y_train[slot.train_idx]
    transform = exp.transform_for(slot.task_id)
    if noise is None:
        return Contribution(*class_means(model, x, y, transform=transform))
    clip, z, rng = noise
    classes = sorted(int(c) for c in exp.plan.tasks[slot.task_id].classes)
    sums, counts = clipped_class_sums(model, x, y, classes, clip, transform=transform)
    return Contribution(
        *noisy_means(sums, counts, classes, clip=clip, noise_multiplier=z, rng=rng)
    )


def pool_contributions(parts: list[Contribution], dim: int) -> Contribution:
    """One contribution from several slots: per class, ``m_c = sum_s n_s m_s / sum_s n_s``.

    A class met in several slots (domain-incremental streams) gets its count-weighted mean,
    so the server's merge sees each example once.
    """
    if not parts:
        return Contribution(np.zeros(0, np.int64), np.zeros((0, dim), np.float32), np.zeros(0))
    if len(parts) == 1:
        return parts[0]
    classes = np.unique(np.concatenate([p.classes for p in parts])).astype(np.int64)
    row = {int(c): i for i, c in enumerate(classes)}
    sums = np.zeros((len(classes), dim))
    counts = np.zeros(len(classes))
    for p in parts:
        idx = np.array([row[int(c)] for c in p.classes], dtype=np.int64)
        np.add.at(sums, idx, p.means.astype(np.float64) * p.counts[:, None])
        np.add.at(counts, idx, p.counts)
    return Contribution(classes, (sums / counts[:, None]).astype(np.float32), counts)


class PrototypeLearner:
    """Embedding net + per-class prototypes; nearest-prototype classification."""

    def train(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> TrainReply:
        """Train (optionally) on the active slot, then contribute the slots due (see module)."""
        send = str(config.get(wire.PROTO_SEND, "every-round"))
        if send not in SEND_MODES:
            raise ValueError(f"{wire.PROTO_SEND}: unknown mode '{send}'")
        model = _client_model(exp, arrays, config, state, client_id).to(client_device(exp.cfg))
        spec = model_spec_for(exp, config, client_id)
        loop = assemble_loop(
            exp, client_id, server_round, config, state, model,
            make_model=lambda: exp.make_model(spec),
        )
        difficulty = loop.difficulty_metrics(model, config)
        loss, final_lr, extra = float("nan"), float(loop.hp["lr"]), {}
        if bool(config.get(wire.PROTO_TRAIN, True)):
            lam = float(config.get(wire.PROTO_LAMBDA, 0.0))
            means, counts = bank_from_arrays(arrays)
            plugins = [PrototypeLoss(means, counts, lam)] if lam > 0 else []
            result = loop.train(model, extra_plugins=plugins)
            loss, final_lr, extra = result.loss, result.final_lr, result.metrics
        sent = [int(p) for p in state.config.get(wire.PROTO_SENT_SLOTS, [])]
        due = positions_to_send(send, loop.stream, server_round, loop.position, sent)
        noise, privacy = _noise_settings(exp, config, server_round, client_id)
        parts = [slot_contribution(exp, model, loop.stream.slots[p], noise) for p in due]
        contribution = pool_contributions(parts, int(model.embedding_dim))
        privacy_items, privacy_metrics = _account(config, state, len(due)) if privacy else ({}, {})
        payload = {}
        if bool(config.get(wire.PROTO_SEND_WEIGHTS, False)):
            payload.update({k: v for k, v in ArrayRecord(cpu_state_dict(model)).items()})
        payload.update(contribution_to_arrays(contribution))
        personal = str(config.get(wire.PROTO_MODEL, "global")) == "personal"
        new_state = trained_state(
            state,
            loop.state_items(),
            ArrayRecord(cpu_state_dict(model)) if personal else state.arrays,
            **{wire.PROTO_SENT_SLOTS: sorted(set(sent) | set(due))},
            **privacy_items,
        )
        metrics = {
            **train_metrics(client_id, loop.slot.task_id, loss, len(loop.y), final_lr),
            wire.PROTO_CLASSES_SENT: int(len(contribution.classes)),
            wire.PROTO_SLOTS_SENT: int(len(due)),
            wire.PROTO_DISTANCE: float(extra.get(wire.PROTO_DISTANCE, float("nan"))),
        }
        metrics.update(difficulty)
        metrics.update({k: float(v) for k, v in extra.items() if k not in metrics})
        metrics.update(privacy_metrics)
        return TrainReply(arrays=ArrayRecord(payload), metrics=metrics, state=new_state)

    def evaluate(
        self,
        exp: Experiment,
        client_id: int,
        server_round: int,
        arrays: ArrayRecord,
        config: ConfigRecord,
        state: ClientState,
    ) -> EvalReply:
        """Score the client's classifier (prototype or head) on its seen tasks."""
        model = _client_model(exp, arrays, config, state, client_id).to(client_device(exp.cfg))
        view = evaluation_view(exp, client_id, server_round, config, state.config)
        return evaluate_seen_tasks(
            exp, classifier_for(model, arrays, config), client_id, server_round, view.stream,
            order=view.order, next_tasks=view.next_tasks,
        )


def _noise_settings(
    exp: Experiment, config: ConfigRecord, server_round: int, client_id: int
) -> tuple[tuple | None, bool]:
    """``((clip, z, rng), True)`` when the round asks for prototype noise, else ``(None, False)``.

    Prototype noise is :mod:`fedsim.client.plugins.prototype_noise`.
    """
    if wire.PROTO_NOISE_SIGMA not in config:
        return None, False
    rng = rng_for(exp.seed, "proto-noise", server_round, client_id)
    return (float(config[wire.PROTO_NOISE_CLIP]), float(config[wire.PROTO_NOISE_SIGMA]), rng), True


def _account(
    config: ConfigRecord, state: ClientState, releases: int
) -> tuple[dict[str, Any], dict[str, float]]:
    """The client's history with ``releases`` more noisy releases; its ε as a reply metric."""
    history = accountant.from_items(state.config)
    for _ in range(releases):
        step = release_steps(float(config[wire.PROTO_NOISE_SIGMA]))
        history = accountant.add_steps(history, step)
    delta = float(config[wire.PRIVACY_DELTA])
    eps = accountant.epsilon(history, delta) if accountant.opacus_installed() else float("nan")
    return accountant.to_items(history), {wire.PRIVACY_EPSILON: eps}
