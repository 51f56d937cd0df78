"""Accuracy of adapter payloads on global tasks, shared by the server strategies and clients."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from fedsim.adapters.bank import Groups, task_of
from fedsim.adapters.layout import AdapterLayout
from fedsim.adapters.scoring import task_accuracy
from fedsim.experiment import Experiment

_INITIAL: dict[str, Groups] = {}


def initial_groups(exp: Experiment, layout: AdapterLayout) -> Groups:
    """The layout's initial payload (cached per process; deterministic from the config)."""
    key = json.dumps(
        [exp.seed, {k: exp.cfg.get(k) for k in ("data", "scenario", "model")}, repr(layout)],
        sort_keys=True,
        default=str,
    )
    if key not in _INITIAL:
        _INITIAL[key] = layout.initial_groups(exp)
    return _INITIAL[key]


def initial_entry(exp: Experiment, layout: AdapterLayout, task_id: int) -> dict[str, np.ndarray]:
    """The untrained task adapter of ``task_id`` (also the start of a personal adapter)."""
    from fedsim.adapters.layout import TASK_SLOT
    from fedsim.adapters.model import slot_state

    model = layout.make_model(exp, init_tag=1 + int(task_id))
    return slot_state(model, layout.spec, TASK_SLOT, layout.head_slot)


def trained_tasks(groups: Mapping[str, Mapping[str, np.ndarray]], initial: Groups) -> list[int]:
    """Task ids whose bank entry differs from its initial value (routing candidates)."""
    out = []
    for g, tensors in groups.items():
        t = task_of(g)
        if t is None:
            continue
        start = initial.get(g)
        if start is None or any(not np.array_equal(tensors[k], start[k]) for k in tensors):
            out.append(t)
    return sorted(out)


def task_accuracies(
    exp: Experiment,
    layout: AdapterLayout,
    groups: Groups,
    task_ids: Sequence[int],
    candidates: Sequence[int] | None = None,
    device: torch.device | str = "cpu",
) -> list[tuple[float, float]]:
    """Return ``(accuracy, loss)`` on each listed global task's test split.

    Without task adapters, one model (shared adapter) scores every task. With a bank, the
    entry is picked by ``layout.routing``: the task's own (``task_id``) or, per example, the
    lowest-entropy one among ``candidates`` (default: the trained entries). The model
    scores on ``device``; the logits come back to the CPU.
    """
    model = layout.make_model(exp).to(device)
    plan = exp.plan
    if layout.task_adapters == "none":
        layout.load(model, groups)
        set_entry = lambda _t: model  # noqa: E731
        candidates, routing = [], "task_id"
    else:
        if candidates is None:
            candidates = trained_tasks(groups, initial_groups(exp, layout))
        routing = layout.routing
        loaded: list[int | None] = [None]

        def set_entry(t: int):
            if loaded[0] != t:
                layout.load(model, groups, t)
                loaded[0] = t
            return model

    out = []
    for t in task_ids:
        task = plan.tasks[t]
        out.append(
            task_accuracy(
                t,
                exp.data.x_test[task.test_idx],
                exp.data.y_test[task.test_idx],
                set_entry=set_entry,
                candidates=list(candidates),
                routing=routing,
                class_mask=task.classes if plan.task_incremental else None,
                transform=exp.transform_for(t),
            )
        )
    return out
