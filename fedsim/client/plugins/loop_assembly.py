"""The one place that assembles a client's local training loop from the round config.

Every client learner (weights, prototypes, adapters) calls :func:`assemble_loop` with the
round's ConfigRecord, the client's state and the model it is about to train; it returns a
:class:`LocalLoop` holding

* the **realised stream** (the run-time task curriculum's order, ``curriculum.task-order``,
  :func:`fedsim.client.plugins.task_curriculum.stream_for`; the plan's stream otherwise), the active
  slot and its data;
* the **effective hyper-parameters** (``train.*`` from the config; the first-step LR of
  FedHyper-CL);
* the **plugins** of :func:`fedsim.client.training_loop.train_local`: FedProx's proximal term
  (``proximal-mu``), FedHyper-CL's hypergradient LR (``fedsim.hyper-cl``), the data-level
  curriculum (``curriculum.order``), the FCL baselines' distillation, EWC penalty and replay
  (``fcl.*``, :mod:`fedsim.client.plugins.baselines`), DP-SGD (``privacy.dp-sgd-sigma``,
  :mod:`fedsim.client.plugins.dp_sgd`, first: it supplies the data term's gradient), the plugins
  of a user's package named in ``strategy.plugins`` (:mod:`fedsim.client.plugins.registered`),
  plus any method plugin the learner adds (FedProto's prototype distance).

What a learner cannot honour it declares in :class:`LoopSupport`; the config-level
compatibility table (:mod:`fedsim.config.compatibility`) refuses such combinations before
the run, and :func:`assemble_loop` raises if one reaches a client anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord
from torch import nn

from fedsim import wire
from fedsim.client.plugins.baselines import BaselineParts, baseline_parts, model_arrays
from fedsim.client.plugins.data_curriculum import (
    DataCurriculum,
    curriculum_from_config,
    example_losses,
)
from fedsim.client.plugins.dp_sgd import DpSgd, dp_sgd_plugin
from fedsim.client.plugins.hypergradient import HypergradientLR, hypergradient_plugin
from fedsim.client.plugins.proximal import ProximalTerm
from fedsim.client.plugins.registered import registered_plugins
from fedsim.client.plugins.task_curriculum import stream_for
from fedsim.client.state import ClientState
from fedsim.client.training_loop import TrainResult, train_local
from fedsim.experiment import Experiment
from fedsim.interfaces import LoopPlugin
from fedsim.seeding import rng_for, seed_torch, torch_seed_for
from scenarios.types import ClientStream, TaskSlot


def local_hparams(config: Mapping[str, Any]) -> dict[str, Any]:
    """Read the local-training hyper-parameters the server put in the round config."""
    return {
        "epochs": int(config[wire.LOCAL_EPOCHS]),
        "batch_size": int(config[wire.BATCH_SIZE]),
        "lr": float(config[wire.LR]),
        "optimizer": str(config[wire.OPTIMIZER]),
        "momentum": float(config[wire.MOMENTUM]),
        "weight_decay": float(config[wire.WEIGHT_DECAY]),
    }


@dataclass(frozen=True)
class LoopSupport:
    """Which config-driven plugins a learner's loop honours.

    Attributes
    ----------
    local_scoring : bool
        ``curriculum.scoring = local`` needs the client's previous local model in
        ``ClientState.arrays`` (the weights learner keeps it there; the adapter learner keeps
        personal adapters there instead).
    """

    local_scoring: bool = True


@dataclass
class LocalLoop:
    """A client's assembled local training loop for one round.

    Attributes
    ----------
    stream, decided : ClientStream, list[int]
        The realised stream and the run-time task curriculum's decisions.
    position : int
        The active slot's position in ``stream``.
    x, y, transform
        The active slot's training data and input transform.
    hp : dict
        Effective hyper-parameters for :func:`~fedsim.client.training_loop.train_local`.
    plugins : list
        The loop's plugins, in order.
    rng : numpy.random.Generator
        The data-order generator (run seed, round, client id).
    torch_seed : int
        Seed of torch's generator set right before training.
    hyper, curriculum
        The FedHyper-CL and data-curriculum plugins, when on.
    baselines : BaselineParts
        The FCL baselines' plugins (already in ``plugins``), state and memory metrics.
    """

    stream: ClientStream
    decided: list[int]
    position: int
    x: np.ndarray
    y: np.ndarray
    transform: Any
    hp: dict[str, Any]
    rng: np.random.Generator
    torch_seed: int
    plugins: list[LoopPlugin] = field(default_factory=list)
    hyper: HypergradientLR | None = None
    curriculum: DataCurriculum | None = None
    baselines: BaselineParts = field(default_factory=BaselineParts)
    dp_sgd: DpSgd | None = None

    @property
    def slot(self) -> TaskSlot:
        """The active task slot."""
        return self.stream.slots[self.position]

    def train(
        self,
        model: nn.Module,
        *,
        extra_plugins: Sequence[LoopPlugin] = (),
        class_mask: Sequence[int] | None = None,
    ) -> TrainResult:
        """Seed torch, then run :func:`~fedsim.client.training_loop.train_local` with plugins."""
        seed_torch(self.torch_seed)
        return train_local(
            model,
            self.x,
            self.y,
            rng=self.rng,
            plugins=[*self.plugins, *extra_plugins],
            transform=self.transform,
            class_mask=class_mask,
            **self.hp,
        )

    def difficulty(self, model: nn.Module) -> float:
        """Mean loss of ``model`` (as received) on the slot's data: client-curriculum signal.

        Reuses the data curriculum's scores when they were computed by the same model.
        """
        if len(self.y) == 0:
            return 0.0
        if self.curriculum is not None and self.curriculum.scored_by_received:
            return float(np.mean(self.curriculum.scores))
        return float(np.mean(example_losses(model, self.x, self.y, transform=self.transform)))

    def difficulty_metrics(
        self, model: nn.Module, config: ConfigRecord | Mapping[str, Any]
    ) -> dict[str, float]:
        """``{difficulty: ...}`` when something consumes it, else ``{}`` (no forward pass).

        Consumers: the server asks for it (``fedsim.report-difficulty``, set by a selection
        that ranks clients by it), or a data curriculum already scored the examples with the
        received model (free to reuse; it feeds the TensorBoard curriculum histogram).
        """
        # free only where every client scores with the received model ("global" scoring):
        # under "local" scoring a client without a local model yet scores with the received
        # one too, and a reply key that only some replies carry breaks Flower's aggregation
        by_design = str(config.get(wire.CURRICULUM_SCORING, "global")) == "global"
        free = self.curriculum is not None and self.curriculum.scored_by_received and by_design
        if not free and not bool(config.get(wire.REPORT_DIFFICULTY, False)):
            return {}
        return {wire.DIFFICULTY: self.difficulty(model)}

    def state_items(self) -> dict[str, Any]:
        """Client-state items the plugins keep for the next round (LR factor, decisions)."""
        items: dict[str, Any] = {}
        if self.hyper is not None:
            items.update(self.hyper.state_items())
        if self.decided:
            items[wire.CURRICULUM_DECIDED] = list(self.decided)
        items.update(self.baselines.config)
        if self.dp_sgd is not None:
            items.update(self.dp_sgd.state_items())
        return items

    def state_arrays(self, model_state: ArrayRecord | None) -> ArrayRecord | None:
        """Client-state tensors to keep: ``model_state`` (or none) plus the baselines' tensors."""
        if not self.baselines.arrays:
            return model_state
        kept = dict(model_state.items()) if model_state is not None else {}
        kept.update({k: Array(v) for k, v in self.baselines.arrays.items()})
        return ArrayRecord(kept)


def assemble_loop(
    exp: Experiment,
    client_id: int,
    server_round: int,
    config: ConfigRecord | Mapping[str, Any],
    state: ClientState,
    model: nn.Module,
    *,
    support: LoopSupport = LoopSupport(),
    make_model: Callable[[], nn.Module] | None = None,
    shared: Mapping[str, ArrayRecord] | None = None,
) -> LocalLoop:
    """Assemble the client's loop for ``server_round`` from the round config.

    Parameters
    ----------
    exp : Experiment
        The experiment (plan, data, seeds).
    client_id, server_round : int
        The client and the round.
    config : flwr.app.ConfigRecord
        The round's train config.
    state : ClientState
        The client's state (FedHyper-CL's factor, task decisions, previous local model).
    model : torch.nn.Module
        The model as received (or the personal model), before training: it scores tasks and
        examples and anchors the proximal term.
    support : LoopSupport
        What the calling learner honours.
    make_model : callable, optional
        Factory of a fresh model like ``model`` (``expert`` / ``local`` curriculum scoring).
    shared : mapping, optional
        The message's extra records by state-dict names of ``model`` (FedHyper-CL's
        ``Delta_{t-1}``); default ``state.shared``.

    Returns
    -------
    LocalLoop
        The realised stream, effective hyper-parameters and plugins.
    """
    stream, decided = stream_for(exp, client_id, server_round, config, state.config, model)
    pos = stream.slot_at(server_round)
    if pos is None:
        raise ValueError(f"client {client_id} has no active task in round {server_round}")
    slot = stream.slots[pos]
    hp = local_hparams(config)
    plugins: list[LoopPlugin] = []
    mu = float(config.get(wire.PROXIMAL_MU, 0.0))
    if mu > 0:
        plugins.append(ProximalTerm(model, mu))
    hyper = hypergradient_plugin(
        model, config, state.config, state.shared if shared is None else shared
    )
    if hyper is not None:
        plugins.append(hyper)
        hp["lr"] = hyper.initial_lr()
    x, y = exp.data.x_train[slot.train_idx], exp.data.y_train[slot.train_idx]
    transform = exp.transform_for(slot.task_id)
    rng = rng_for(exp.seed, "train-order", server_round, client_id)
    local_scoring = config.get(wire.CURRICULUM_SCORING) == "local"
    if local_scoring and not support.local_scoring:
        raise ValueError(
            f"{wire.CURRICULUM_SCORING}=local: this learner keeps no previous local model"
        )
    own = model_arrays(state.arrays)
    previous = own.to_torch_state_dict() if local_scoring and own is not None else None
    curriculum = curriculum_from_config(
        config,
        received=model,
        x=x,
        y=y,
        transform=transform,
        hp=hp,
        local_state=previous,
        make_model=make_model or exp.make_model,
        rng=rng,
    )
    if curriculum is not None:
        plugins.append(curriculum)
    baselines = baseline_parts(
        exp, client_id, config, state.config, state.arrays, model, stream, pos, state.shared
    )
    plugins.extend(baselines.plugins)
    dp = dp_sgd_plugin(
        model,
        config,
        state.config,
        num_examples=len(y),
        batch_size=hp["batch_size"],
        seed=torch_seed_for(exp.seed, "dp-sgd-noise", server_round, client_id),
    )
    if dp is not None:
        plugins.insert(0, dp)
    plugins.extend(
        registered_plugins(
            config, model=model, exp=exp, client_id=client_id, server_round=server_round
        )
    )
    return LocalLoop(
        stream=stream,
        decided=decided,
        position=pos,
        x=x,
        y=y,
        transform=transform,
        hp=hp,
        rng=rng,
        torch_seed=torch_seed_for(exp.seed, "train-torch", server_round, client_id),
        plugins=plugins,
        hyper=hyper,
        curriculum=curriculum,
        baselines=baselines,
        dp_sgd=dp,
    )


def realised_stream(
    exp: Experiment, client_id: int, server_round: int, config, state: ClientState
) -> ClientStream:
    """The client's stream as realised so far (for evaluation: no new decisions)."""
    stream, _ = stream_for(exp, client_id, server_round, config, state.config)
    return stream
