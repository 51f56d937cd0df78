"""Incremental LoRA: the current task's LoRA trained over the earlier tasks' LoRA, frozen, summed.

PILoRA (Guo et al., ECCV 2024, section "Incremental LoRA"): after tasks ``1..t-1`` the
weights of an adapted layer are ``W_0 + sum_{s<t} (alpha/r) B_s A_s``; task ``t`` adds its
own ``(alpha/r) B_t A_t``, trained while ``W_0`` and every earlier ``A_s, B_s`` stay frozen.
Each task's LoRA is a named ``peft`` adapter slot on the same layers (``peft`` sums the updates
of active adapters, see :mod:`fedsim.adapters.lora`): slot ``task`` is the one being trained,
slots ``old<s>`` hold the frozen earlier ones. Inference sums every trained task's LoRA (no
task id).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from flwr.app import ArrayRecord
from torch import nn

from fedsim.adapters.bank import Groups, bank_entry, join_groups, split_groups
from fedsim.adapters.layout import TASK_SLOT, AdapterLayout
from fedsim.adapters.model import build_adapted, load_slot
from fedsim.experiment import Experiment

_OLD = "old"


def earlier_slot(task_id: int) -> str:
    """The ``peft`` adapter name of earlier task ``task_id``'s frozen LoRA."""
    return f"{_OLD}{int(task_id)}"


def incremental_model(
    exp: Experiment,
    layout: AdapterLayout,
    groups: Mapping[str, Mapping[str, np.ndarray]],
    current: int | None,
    earlier: Sequence[int],
) -> nn.Module:
    """The frozen backbone + task ``current``'s LoRA (trainable) + each earlier one (frozen).

    ``groups`` is the adapter bank (``task<t>`` groups); ``current=None`` builds the
    inference model, every listed task's LoRA frozen and summed. Only the current slot's
    parameters have ``requires_grad`` (the head is never trained: ``train_head`` is off).
    """
    if current is not None and current in earlier:
        raise ValueError(f"task {current} is both the current and an earlier task")
    slots = ((TASK_SLOT,) if current is not None else ()) + tuple(earlier_slot(s) for s in earlier)
    model = build_adapted(exp, layout.spec, layout.backbone, slots, head_slot=None)
    if current is not None:
        load_slot(model, layout.spec, TASK_SLOT, None, bank_entry(groups, current))
    for s in earlier:
        load_slot(model, layout.spec, earlier_slot(s), None, bank_entry(groups, s))
    trainable = re.compile(rf"\.lora_[AB]\.{TASK_SLOT}\.")
    for name, p in model.named_parameters():
        p.requires_grad_(current is not None and bool(trainable.search(name)))
    return model


def split_payload(arrays: ArrayRecord) -> tuple[Groups, ArrayRecord]:
    """Split a PILoRA payload into adapter groups (``<group>/<key>``) and the other records.

    The others are the prototype keys (``proto.*``: the dense bank of the global arrays, or
    a reply's sparse contribution and class-mean features).
    """
    adapters = ArrayRecord({k: arrays[k] for k in arrays.keys() if "/" in k})
    others = ArrayRecord({k: arrays[k] for k in arrays.keys() if "/" not in k})
    return split_groups(adapters), others


def join_payload(
    groups: Mapping[str, Mapping[str, np.ndarray]], others: ArrayRecord
) -> ArrayRecord:
    """The inverse of :func:`split_payload` (adapter keys first, sorted)."""
    out = dict(join_groups(groups).items())
    out.update(dict(others.items()))
    return ArrayRecord(out)
