"""The prototype client learner used by Federated Reconnaissance and FedProto.

What a round does is chosen by the strategy through ConfigRecord items (``proto.*`` in
:mod:`fedsim.wire`), so one learner serves both methods:

* ``proto.model``: ``"global"`` - the embedding net arrives in the message (Fed-Recon);
  ``"personal"`` - the client's own model lives in its :class:`ClientState` and never travels
  (FedProto). Personal models may differ per client (``proto.client-models``: a JSON list of
  model-config overrides, client ``c`` takes entry ``c % len``), sharing the embedding dim.
* ``proto.train``: run the one local training loop (cross-entropy + ``proto.lambda`` times
  FedProto's prototype distance, :class:`~fedsim.plugins.prototype_loss.PrototypeLoss`).
* ``proto.send``: when to contribute the current slot's class means - ``"every-round"``,
  ``"once-per-slot"`` (each slot's data counted once; Fed-Recon) or ``"never"``.
* ``proto.inference``: ``"prototype"`` (nearest global prototype over every class the
  federation knows) or ``"head"`` (the network's own linear classifier).

The reply's ArrayRecord holds the weights (when ``proto.send-weights``) and the sparse
contribution ``proto.classes/means/counts`` (empty, ``k = 0``, when nothing is sent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord
from torch import nn

from fedsim import wire
from fedsim.experiment import Experiment
from fedsim.learner import train_local
from fedsim.learners.base import ClientState, EvalReply, TrainReply
from fedsim.learners.weights import evaluate_seen_tasks, local_hparams
from fedsim.models.prototype_head import PrototypeClassifier, class_means
from fedsim.plugins.prototype_loss import PrototypeLoss
from fedsim.seeding import rng_for, seed_torch, torch_seed_for
from strategies.prototypes import (
    Contribution,
    bank_from_arrays,
    contribution_to_arrays,
    without_bank,
)

SENT_SLOTS = "proto-sent-slots"  # ClientState.config: slot positions already contributed
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


def _empty_contribution(dim: int) -> Contribution:
    return Contribution(np.zeros(0, np.int64), np.zeros((0, dim), np.float32), np.zeros(0))


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
        """Train (optionally) on the active slot, then contribute its class means."""
        stream = exp.plan.streams[client_id]
        pos = stream.slot_at(server_round)
        if pos is None:
            raise ValueError(f"client {client_id} has no active task in round {server_round}")
        slot = stream.slots[pos]
        send = str(config.get(wire.PROTO_SEND, "every-round"))
        if send not in SEND_MODES:
            raise ValueError(f"{wire.PROTO_SEND}: unknown mode '{send}'")
        model = _client_model(exp, arrays, config, state, client_id)
        means, counts = bank_from_arrays(arrays)
        x, y = exp.data.x_train[slot.train_idx], exp.data.y_train[slot.train_idx]
        transform = exp.transform_for(slot.task_id)
        loss, final_lr, extra = float("nan"), float(config[wire.LR]), {}
        if bool(config.get(wire.PROTO_TRAIN, True)):
            lam = float(config.get(wire.PROTO_LAMBDA, 0.0))
            plugins = [PrototypeLoss(means, counts, lam)] if lam > 0 else []
            seed_torch(torch_seed_for(exp.seed, "train-torch", server_round, client_id))
            result = train_local(
                model,
                x,
                y,
                rng=rng_for(exp.seed, "train-order", server_round, client_id),
                plugins=plugins,
                transform=transform,
                **local_hparams(config),
            )
            loss, final_lr, extra = result.loss, result.final_lr, result.metrics
        sent = [int(p) for p in state.config.get(SENT_SLOTS, [])]
        contribute = send == "every-round" or (send == "once-per-slot" and pos not in sent)
        if contribute:
            contribution = Contribution(*class_means(model, x, y, transform=transform))
            sent = sorted(set(sent) | {pos})
        else:
            contribution = _empty_contribution(int(model.embedding_dim))
        payload = {}
        if bool(config.get(wire.PROTO_SEND_WEIGHTS, False)):
            payload.update({k: v for k, v in ArrayRecord(model.state_dict()).items()})
        payload.update(contribution_to_arrays(contribution))
        personal = str(config.get(wire.PROTO_MODEL, "global")) == "personal"
        new_state = ClientState(
            config={
                **state.config,
                SENT_SLOTS: sent,
                "rounds-trained": int(state.config.get("rounds-trained", 0)) + 1,
            },
            arrays=ArrayRecord(model.state_dict()) if personal else state.arrays,
        )
        metrics = {
            wire.TRAIN_LOSS: float(loss),
            wire.NUM_EXAMPLES: int(len(y)),
            wire.REPLY_CLIENT_ID: int(client_id),
            wire.TASK_ID: int(slot.task_id),
            "final-lr": float(final_lr),
            "proto-classes-sent": int(len(contribution.classes)),
            "proto-distance": float(extra.get("proto-distance", float("nan"))),
        }
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
        model = _client_model(exp, arrays, config, state, client_id)
        return evaluate_seen_tasks(
            exp, classifier_for(model, arrays, config), client_id, server_round
        )


def classifier_for(model: nn.Module, arrays: ArrayRecord, config: Mapping) -> nn.Module:
    """The model a client predicts with: nearest global prototype, or its own head.

    With ``proto.inference = "prototype"`` and an empty bank (no class has a prototype yet)
    the head is used, so round-0 style evaluations stay defined.
    """
    if str(config.get(wire.PROTO_INFERENCE, "prototype")) == "head":
        return model
    means, counts = bank_from_arrays(arrays)
    if not np.any(counts > 0):
        return model
    return PrototypeClassifier(model, means, counts)


def task_accuracies(exp: Experiment, classifier: nn.Module) -> np.ndarray:
    """Accuracy of ``classifier`` on each global task's test split (the central view)."""
    return exp.task_accuracies(classifier)
