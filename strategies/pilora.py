"""PILoRA: frozen pre-trained backbone + incremental per-task LoRA + prototype classifier."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg
from torch import nn

from fedsim import wire
from fedsim.adapters.bank import select_groups, task_group, task_of, weighted_group_means
from fedsim.adapters.checks import check_adapter_groups
from fedsim.adapters.evaluation import initial_groups, trained_tasks
from fedsim.adapters.incremental import incremental_model, join_payload, split_payload
from fedsim.adapters.layout import AdapterLayout
from fedsim.adapters.routing import task_routed_messages
from fedsim.adapters.stats import AdapterStats
from fedsim.errors import ConfigError
from fedsim.experiment import Experiment
from fedsim.interfaces import StrategyHooks
from strategies.prototypes import (
    bank_from_arrays,
    bank_size,
    bank_to_arrays,
    check_contribution,
    classifier_for,
    contribution_from_arrays,
    empty_bank,
    reweighted_prototypes,
)


def pilora_layout(adapter: Mapping[str, Any] | None, backbone: Mapping[str, Any] | None):
    """The adapter layout of PILoRA: a federated bank of LoRA entries, no head; refusals."""
    spec = dict(adapter or {})
    if str(spec.get("kind", "lora")) != "lora":
        raise ConfigError(
            "strategy.adapter.kind",
            f"pilora's incremental LoRA needs kind=lora (the orthogonality term is between "
            f"LoRA A matrices), got '{spec.get('kind')}'",
        )
    if bool(spec.get("train_head", False)):
        raise ConfigError(
            "strategy.adapter.train_head",
            "pilora classifies by prototypes; the linear head is not trained or sent",
        )
    if str(dict(backbone or {}).get("init", "base_task")) == "random":
        raise ConfigError(
            "strategy.backbone.init",
            "pilora needs a pre-trained backbone (base_task or checkpoint), got random",
        )
    spec.update(kind="lora", train_head=False)
    cfg = {"adapter": spec, "backbone": backbone, "shared": False, "task_adapters": "federated"}
    return AdapterLayout.from_config(cfg)


def inference_model(exp: Experiment, layout: AdapterLayout, arrays: ArrayRecord) -> nn.Module:
    """Backbone + the sum of every bank entry's LoRA, classifying by the nearest prototype.

    No task id: one model scores every task, over every class with a global prototype
    (:func:`strategies.prototypes.classifier_for`; the backbone's head while the bank is
    empty). Untrained entries have ``B = 0`` and add nothing.
    """
    groups, bank = split_payload(arrays)
    tasks = sorted(t for t in map(task_of, groups) if t is not None)
    model = incremental_model(exp, layout, groups, None, tasks)
    return classifier_for(model, bank, {})


def _positive(value: float, key: str, strict: bool = False) -> float:
    value = float(value)
    if not (value > 0 if strict else value >= 0):
        raise ConfigError(f"strategy.{key}", f"must be {'>' if strict else '>='} 0, got {value}")
    return value


class PILoRA(FedAvg, StrategyHooks):
    """Per-task LoRA FedAvg + PILoRA's re-weighted prototype aggregation.

    Guo, Zhu, Liu, Zhang, Liu, "PILoRA: Prototype Guided Incremental LoRA for Federated
    Class-Incremental Learning" (ECCV 2024). Server half: the LoRA of task ``t`` is averaged
    over this round's clients training ``t``, weighted by example counts (FedAvg, McMahan
    et al. 2017, Eq. 1, restricted to those clients: :class:`strategies.adapter_bank.AdapterBank`'s
    rule); other entries stay. Class prototypes are aggregated with the prototype
    re-weight module (official ``compute_weight``:
    :func:`strategies.prototypes.reweight_weights`); a class nobody sent keeps its prototype.
    A client training task ``t`` receives entry ``t``, the *trained* entries of the other
    tasks (frozen and summed into its model: Incremental LoRA) and the prototype
    bank; it returns entry ``t``, its learned prototypes, their example counts and its
    class-mean features (``proto.features``, needed by the re-weighting).

    Scaled down from the paper: a fedsim model's LoRA targets (``auto``: every Linear /
    Conv2d but the head) instead of a ViT's q/v projections; a backbone pre-trained on one
    task of the stream (``backbone.init: base_task``) or a checkpoint instead of ImageNet
    DINO weights; the official code's L1 term on ``A_t`` (weight 0.01) is left out; with
    per-client task orders "earlier tasks" are every task the federation has trained.

    Parameters
    ----------
    adapter, backbone : dict
        ``strategy.adapter`` (rank, alpha, targets; kind must be lora, no head) and
        ``strategy.backbone`` (base_task or checkpoint; random is refused).
    ortho_weight : float
        ``gamma`` of the orthogonality term (official code 0.5).
    proto_weight : float
        ``lambda`` of the prototype loss ``||f(x) - m_y||^2 / D``.
    temperature : float
        ``T`` of the distance logits ``-||f(x) - m_c||^2 / (D T)``.
    reweight_temperature : float
        ``tau`` of the re-weighting softmax (official code 0.2).
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(
        self,
        *,
        adapter: Mapping[str, Any] | None = None,
        backbone: Mapping[str, Any] | None = None,
        ortho_weight: float = 0.5,
        proto_weight: float = 0.1,
        temperature: float = 1.0,
        reweight_temperature: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.layout = pilora_layout(adapter, backbone)
        self.ortho_weight = _positive(ortho_weight, "ortho_weight")
        self.proto_weight = _positive(proto_weight, "proto_weight")
        self.temperature = _positive(temperature, "temperature", strict=True)
        self.reweight_temperature = _positive(reweight_temperature, "reweight_temperature", True)
        self.stats = AdapterStats()
        self.exp: Experiment | None = None
        self.num_classes, self.dim = 0, 0
        self._groups: dict = {}
        self._bank: tuple[np.ndarray, np.ndarray] | None = None

    # -- setup --------------------------------------------------------------------------
    def initial_arrays(self, exp: Experiment, arrays: ArrayRecord | None = None) -> ArrayRecord:
        """One untrained LoRA entry per global task and an empty prototype bank."""
        self.exp = exp
        model = exp.make_model()
        self.num_classes, self.dim = int(exp.data.num_classes), int(model.embedding_dim)
        self.stats.model_bytes = ArrayRecord(model.state_dict()).count_bytes()
        bank = bank_to_arrays(*empty_bank(self.num_classes, self.dim))
        return join_payload(self.layout.initial_groups(exp), bank)

    def _items(self) -> dict[str, Any]:
        return {
            wire.ADAPTER_LAYOUT: self.layout.to_json(),
            wire.PROTO_LAMBDA: self.proto_weight,
            wire.PILORA_ORTHO: self.ortho_weight,
            wire.PILORA_TEMPERATURE: self.temperature,
        }

    # -- train --------------------------------------------------------------------------
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Send entry ``t`` of each client's task, the trained other entries and the bank."""
        config[wire.SERVER_ROUND] = server_round
        for key, value in self._items().items():
            config[key] = value
        groups, bank = split_payload(arrays)
        trained = trained_tasks(groups, initial_groups(self.exp, self.layout))

        def payload_for(t: int) -> ArrayRecord:
            names = [task_group(t)] + [task_group(s) for s in trained if s != t]
            return join_payload(select_groups(groups, names), bank)

        return task_routed_messages(self.exp, grid, server_round, config, payload_for, "PILoRA")

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's evaluate messages (whole bank + prototypes) with the PILoRA settings."""
        for key, value in self._items().items():
            config[key] = value
        return super().configure_evaluate(server_round, arrays, config, grid)

    def reference_arrays(self, global_arrays: ArrayRecord) -> None:
        """Remember the global payload for :meth:`check_reply` and the merge."""
        self._groups, bank = split_payload(global_arrays)
        self._bank = bank_from_arrays(bank)
        return None

    def check_reply(self, reply: Message) -> str | None:
        """Entry of its task (keys, shapes), a well-formed contribution, features alike."""
        metrics = reply.content[wire.METRICS]
        who = f"client {metrics.get(wire.REPLY_CLIENT_ID, '?')}"
        t = int(metrics.get(wire.TASK_ID, -1))
        if task_group(t) not in self._groups:
            return f"{who}: task id {t} has no entry in the LoRA bank"
        try:
            groups, others = split_payload(reply.content[wire.ARRAYS])
        except (KeyError, ValueError) as exc:
            return f"{who}: {exc}"
        reason = check_adapter_groups(who, groups, self._groups, [task_group(t)])
        if reason is not None:
            return reason
        reason = check_contribution(others, self.num_classes, self.dim)
        if reason is None:
            reason = _check_features(others)
        return None if reason is None else f"{who}: {reason}"

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """LoRA: per-task FedAvg; prototypes: re-weighted per class (see class docstring)."""
        valid, _ = self._check_and_log_replies(list(replies), is_train=True, validate=False)
        if not valid or self._bank is None:
            return None, None
        self.stats.update(valid)
        parts = [split_payload(r.content[wire.ARRAYS]) for r in valid]
        weights = [float(r.content[wire.METRICS][wire.NUM_EXAMPLES]) for r in valid]
        means, _ = weighted_group_means([(g, w) for (g, _), w in zip(parts, weights, strict=True)])
        contributions = [contribution_from_arrays(o) for _, o in parts]
        features = [o[wire.PROTO_FEATURES].numpy() for _, o in parts]
        fresh, fresh_counts = reweighted_prototypes(
            self.num_classes, self.dim, contributions, features, self.reweight_temperature
        )
        old_means, old_counts = self._bank
        seen = fresh_counts > 0
        bank_means = np.where(seen[:, None], fresh, old_means).astype(np.float32)
        bank_counts = np.where(seen, fresh_counts, old_counts)
        metrics = self.train_metrics_aggr_fn([r.content for r in valid], self.weighted_by_key)
        metrics[wire.PROTO_BANK_SIZE] = bank_size(bank_counts)
        merged = {**self._groups, **means}
        return join_payload(merged, bank_to_arrays(bank_means, bank_counts)), metrics

    # -- evaluation ---------------------------------------------------------------------
    def central_accuracies(self, exp: Experiment, arrays: ArrayRecord) -> np.ndarray:
        """Accuracy per global task of the summed-LoRA model with the prototype classifier."""
        return exp.task_accuracies(inference_model(exp, self.layout, arrays))

    def tensorboard(self, sink, server_round: int) -> None:
        """Trainable-parameter fraction, payload/model bytes and per-task usage."""
        n = len(self.exp.plan.tasks) if self.exp is not None else 0
        sink.scalars(server_round, self.stats.scalars(n))


def _check_features(others: ArrayRecord) -> str | None:
    if wire.PROTO_FEATURES not in others:
        return f"reply lacks key '{wire.ARRAYS}.{wire.PROTO_FEATURES}'"
    got = tuple(others[wire.PROTO_FEATURES].shape)
    want = tuple(others[wire.PROTO_MEANS].shape)
    if got != want:
        return f"reply key '{wire.ARRAYS}.{wire.PROTO_FEATURES}': shape {got}, expected {want}"
    extra = sorted(set(others.keys()) - {wire.PROTO_CLASSES, wire.PROTO_MEANS,
                                         wire.PROTO_COUNTS, wire.PROTO_FEATURES})
    return f"reply key '{wire.ARRAYS}.{extra[0]}' is unexpected" if extra else None
