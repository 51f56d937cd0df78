"""Client halves of the FCL baselines (FedLwF, FedEWC, replay, TARGET): task ends and state.

:func:`baseline_parts` is called by :func:`fedsim.client.plugins.loop_assembly.assemble_loop`.
The server's strategy switches a baseline on with flat ConfigRecord items
(``fcl.lwf-*``, ``fcl.ewc-*``, ``fcl.replay-*``, ``fcl.target-*``, :mod:`fedsim.wire`).
TARGET keeps nothing: its old model and synthetic set arrive with every train message of
a task period (the server decides the periods, :mod:`strategies.target`).

**Task end.** A client's task ends when it trains on a stream position other than the last
one it trained on (``fcl.position`` in its state). At that moment - the first round of its new
task - the model it has just received is the federation's model at the end of its previous
task, and the baselines consolidate the *last task the client trained on* with it:

* FedLwF keeps that model as the teacher (one full model);
* FedEWC estimates the diagonal empirical Fisher on that task's training data and folds it
  into the running Fisher; the anchor becomes that model's parameters;
* replay offers that task's examples to the exemplar memory (reservoir or herding);
* FOT represents each projected layer's inputs on that task's data and *sends* the factors
  with this round's update (:mod:`fedsim.client.plugins.orthogonal`; nothing is kept).

A task the client never trained on (not selected while it was active) leaves nothing.

**Client state** (:class:`~fedsim.client.state.ClientState`, keyed by client id):
tensors under the prefixes ``lwf.teacher/``, ``ewc.fisher/``, ``ewc.anchor/`` of
``ClientState.arrays`` (model keys never contain ``/``); the memory as index lists
``replay.index`` / ``replay.task`` and the reservoir count ``replay.seen`` in
``ClientState.config``. The reply reports the bytes each part occupies
(``memory-bytes-*``; the memory as the data it stands for).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord
from torch import nn

from fedsim import wire
from fedsim.client.plugins.distillation import LwFDistillation
from fedsim.client.plugins.ewc import EWCPenalty, consolidate, empirical_fisher
from fedsim.client.plugins.orthogonal import task_representation
from fedsim.client.plugins.replay import (
    ExperienceReplay,
    herding_order,
    herding_update,
    reservoir_update,
)
from fedsim.client.plugins.target_kd import SyntheticDistillation
from fedsim.device import cpu_state_dict, model_device
from fedsim.experiment import Experiment
from fedsim.interfaces import LoopPlugin
from fedsim.seeding import rng_for
from scenarios.types import ClientStream, TaskSlot
from strategies.subspace import projected_layers

POSITION = "fcl.position"  # client state: the stream position it last trained on
TEACHER, FISHER, ANCHOR = "lwf.teacher/", "ewc.fisher/", "ewc.anchor/"
PREFIXES = (TEACHER, FISHER, ANCHOR)
INDEX, TASK, SEEN = "replay.index", "replay.task", "replay.seen"


@dataclass
class BaselineParts:
    """What the baselines add to one round of a client's loop.

    Attributes
    ----------
    plugins : list
        Loop plugins (distillation, EWC penalty, replay).
    config : dict
        Client-state scalars to keep (position, memory indices).
    arrays : dict
        Client-state tensors to keep, by prefixed name (numpy, CPU).
    metrics : dict
        Reply metrics: memory bytes of each part.
    send : dict
        Tensors to send with this round's reply (FOT's representation factors), by name.
    """

    plugins: list[LoopPlugin] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    send: dict[str, np.ndarray] = field(default_factory=dict)


def enabled(config: Mapping[str, Any]) -> bool:
    """Whether the round config switches on any baseline."""
    keys = (
        wire.LWF_LAMBDA, wire.EWC_LAMBDA, wire.REPLAY_BUDGET, wire.FOT_SAMPLES, wire.TARGET_KD
    )
    return any(k in config for k in keys)


def model_arrays(arrays: ArrayRecord | None) -> ArrayRecord | None:
    """The model part of a client's state arrays (without the baselines' prefixed tensors)."""
    if arrays is None:
        return None
    keys = [k for k in arrays if "/" not in k]
    if len(keys) == len(arrays):
        return arrays
    return ArrayRecord({k: arrays[k] for k in keys}) if keys else None


def _kept(arrays: ArrayRecord | None, prefix: str) -> dict[str, np.ndarray]:
    if arrays is None:
        return {}
    return {k[len(prefix):]: arrays[k].numpy() for k in arrays if k.startswith(prefix)}


def baseline_parts(
    exp: Experiment,
    client_id: int,
    config: Mapping[str, Any],
    state_config: Mapping[str, Any],
    state_arrays: ArrayRecord | None,
    model: nn.Module,
    stream: ClientStream,
    position: int,
    shared: Mapping[str, ArrayRecord] | None = None,
) -> BaselineParts:
    """The baselines' plugins, state and memory metrics for this round (see module doc).

    ``shared`` holds the message's extra records (TARGET's old model and synthetic set).
    """
    parts = BaselineParts()
    if not enabled(config):
        return parts
    last = state_config.get(POSITION)
    ended = stream.slots[int(last)] if last is not None and int(last) != position else None
    parts.config[POSITION] = int(position)
    if wire.LWF_LAMBDA in config:
        _lwf(exp, config, state_arrays, model, stream, position, ended, parts)
    if wire.EWC_LAMBDA in config:
        _ewc(exp, client_id, config, state_arrays, model, last, ended, parts)
    if wire.REPLAY_BUDGET in config:
        _replay(exp, client_id, config, state_config, model, last, ended, parts)
    if wire.FOT_SAMPLES in config:
        _fot(exp, client_id, config, model, last, ended, parts)
    if wire.TARGET_KD in config:
        _target(exp, client_id, config, shared or {}, model, parts)
    return parts


def _target(exp, client_id, config, shared, model, parts) -> None:
    teacher = shared.get(wire.TARGET_TEACHER)
    synthetic = shared.get(wire.TARGET_SYNTHETIC)
    have = teacher is not None and synthetic is not None
    x = synthetic["x"].numpy() if have else np.empty(0, dtype=np.float32)
    held = sum(teacher[k].numpy().nbytes for k in teacher) if have else 0
    parts.metrics[wire.MEMORY_OLD_MODEL] = float(held)
    parts.metrics[wire.MEMORY_SYNTHETIC] = float(x.nbytes)
    parts.metrics[wire.TARGET_KD_LOSS] = 0.0
    if not have:
        return
    kept = {k: teacher[k].numpy() for k in teacher}
    parts.plugins.append(
        SyntheticDistillation(
            _to_model(exp, kept, model),
            x,
            [int(c) for c in config[wire.TARGET_CLASSES]],
            float(config[wire.TARGET_KD]),
            float(config[wire.TARGET_TEMPERATURE]),
            rng_for(exp.seed, "target-batches", client_id, int(config[wire.SERVER_ROUND])),
        )
    )


def _to_model(exp: Experiment, arrays: Mapping[str, np.ndarray], like: nn.Module) -> nn.Module:
    teacher = exp.make_model()
    teacher.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
    return teacher.to(model_device(like))


def _lwf(exp, config, state_arrays, model, stream, position, ended, parts) -> None:
    if ended is not None:
        kept = {k: v.numpy().copy() for k, v in cpu_state_dict(model).items()}
    else:
        kept = _kept(state_arrays, TEACHER)
    parts.metrics[wire.MEMORY_OLD_MODEL] = float(sum(v.nbytes for v in kept.values()))
    parts.metrics[wire.LWF_KD] = 0.0
    if not kept:
        return
    parts.arrays.update({TEACHER + k: v for k, v in kept.items()})
    earlier = [exp.plan.tasks[s.task_id].classes for s in stream.slots[:position]]
    if exp.plan.task_incremental:
        groups = [list(c) for c in earlier]
    else:
        groups = [sorted({int(c) for classes in earlier for c in classes})]
    parts.plugins.append(
        LwFDistillation(
            _to_model(exp, kept, model),
            float(config[wire.LWF_LAMBDA]),
            float(config[wire.LWF_TEMPERATURE]),
            groups,
            masked=exp.plan.task_incremental,
        )
    )


def _slot_data(exp: Experiment, slot: TaskSlot, rows: np.ndarray | None = None):
    idx = slot.train_idx if rows is None else slot.train_idx[rows]
    mask = exp.plan.tasks[slot.task_id].classes if exp.plan.task_incremental else None
    return exp.data.x_train[idx], exp.data.y_train[idx], exp.transform_for(slot.task_id), mask


def _ewc(exp, client_id, config, state_arrays, model, last, ended, parts) -> None:
    device = model_device(model)
    fisher = {k: torch.from_numpy(v).to(device) for k, v in _kept(state_arrays, FISHER).items()}
    anchor = {k: torch.from_numpy(v).to(device) for k, v in _kept(state_arrays, ANCHOR).items()}
    if ended is not None:
        samples = int(config.get(wire.EWC_SAMPLES, 0))
        n = len(ended.train_idx)
        rows = None
        if 0 < samples < n:
            rows = np.sort(rng_for(exp.seed, "ewc-fisher", client_id, int(last)).choice(
                n, size=samples, replace=False))
        x, y, transform, mask = _slot_data(exp, ended, rows)
        new = empirical_fisher(model, x, y, transform=transform, class_mask=mask)
        fisher = consolidate(fisher or None, new, float(config.get(wire.EWC_GAMMA, 1.0)))
        anchor = {k: p.detach().clone() for k, p in model.named_parameters() if k in fisher}
    as_numpy = {FISHER + k: v.cpu().numpy() for k, v in fisher.items()}
    as_numpy.update({ANCHOR + k: v.cpu().numpy() for k, v in anchor.items()})
    parts.arrays.update(as_numpy)
    parts.metrics[wire.MEMORY_FISHER] = float(sum(v.nbytes for v in as_numpy.values()))
    parts.metrics[wire.EWC_PENALTY] = 0.0
    if fisher:
        parts.plugins.append(EWCPenalty(fisher, anchor, float(config[wire.EWC_LAMBDA])))


def _fot(exp, client_id, config, model, last, ended, parts) -> None:
    parts.metrics[wire.FOT_BYTES_UP] = 0.0
    parts.metrics[wire.FOT_TASKS] = 0.0
    if ended is None:
        return
    samples, n = int(config[wire.FOT_SAMPLES]), len(ended.train_idx)
    rows = None
    if 0 < samples < n:
        rows = np.sort(rng_for(exp.seed, "fot-samples", client_id, int(last)).choice(
            n, size=samples, replace=False))
    x, _, transform, _ = _slot_data(exp, ended, rows)
    layers = projected_layers(model, head=bool(config[wire.FOT_HEAD]))
    parts.send = task_representation(
        model, x, layers, transform=transform, max_rank=int(config.get(wire.FOT_MAX_RANK, 0))
    )
    parts.metrics[wire.FOT_BYTES_UP] = float(sum(v.nbytes for v in parts.send.values()))
    parts.metrics[wire.FOT_TASKS] = 1.0


def _replay(exp, client_id, config, state_config, model, last, ended, parts) -> None:
    index = [int(i) for i in state_config.get(INDEX, [])]
    task = [int(t) for t in state_config.get(TASK, [])]
    seen = int(state_config.get(SEEN, 0))
    capacity = int(config[wire.REPLAY_BUDGET])
    if ended is not None:
        rng = rng_for(exp.seed, "replay-memory", client_id, int(last))
        if str(config[wire.REPLAY_SELECTION]) == "reservoir":
            offered = [(int(i), ended.task_id) for i in rng.permutation(ended.train_idx)]
            pairs, seen = reservoir_update(
                list(zip(index, task, strict=True)), seen, offered, capacity, rng
            )
            index, task = [p[0] for p in pairs], [p[1] for p in pairs]
        else:
            index, task = _herd(exp, model, index, task, ended, capacity)
            seen += len(ended.train_idx)
    parts.config.update({INDEX: index, TASK: task, SEEN: seen})
    y = exp.data.y_train
    per_example = exp.data.x_train[0].nbytes + y[0].nbytes
    parts.metrics[wire.MEMORY_BUFFER] = float(len(index) * per_example)
    parts.metrics[wire.REPLAY_SIZE] = float(len(index))
    parts.metrics[wire.REPLAY_LOSS] = 0.0
    parts.metrics[wire.REPLAY_CLASSES] = float(len({int(c) for c in y[index]}) if index else 0)
    if index:
        task_classes = (lambda t: exp.plan.tasks[t].classes) if exp.plan.task_incremental else None
        parts.plugins.append(
            ExperienceReplay(
                exp.data.x_train,
                y,
                index,
                task,
                int(config["batch-size"]),
                exp.transform_for,
                rng_for(exp.seed, "replay-batches", client_id, int(config[wire.SERVER_ROUND])),
                mask_for=task_classes,
            )
        )


@torch.no_grad()
def _herd(exp, model, index, task, ended, capacity) -> tuple[list[int], list[int]]:
    """Herding exemplars of ``ended``'s classes; every (task, class) group cut to K // G."""
    y = exp.data.y_train
    kept: dict[tuple[int, int], list[int]] = {}
    for i, t in zip(index, task, strict=True):
        kept.setdefault((t, int(y[i])), []).append(i)
    x, labels, transform, _ = _slot_data(exp, ended)
    model.eval()
    inputs = torch.from_numpy(x).to(model_device(model))
    feats = model.embed(transform(inputs) if transform is not None else inputs).cpu().numpy()
    classes = [int(c) for c in np.unique(labels)]
    groups = max(len(set(kept) | {(ended.task_id, c) for c in classes}), 1)
    per_group = -(-capacity // groups)  # the largest share herding_update can give a group
    new = {}
    for c in classes:
        rows = np.flatnonzero(labels == c)
        order = herding_order(feats[rows], per_group)
        new[(int(ended.task_id), int(c))] = [int(ended.train_idx[rows[r]]) for r in order]
    groups = herding_update(kept, new, capacity)
    pairs = [(i, t) for (t, _), members in groups.items() for i in members]
    return [p[0] for p in pairs], [p[1] for p in pairs]
