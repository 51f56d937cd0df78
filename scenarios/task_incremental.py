"""Task-incremental streams: class-incremental tasks whose id is given at test (and train) time."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from scenarios.class_incremental import class_incremental
from scenarios.types import ScenarioPlan


def task_incremental(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_tasks: int = 5,
    classes_per_task: int = 2,
    class_order: str = "sorted",
    **stream: Any,
) -> ScenarioPlan:
    """Disjoint class splits with multi-head evaluation (Task-IL).

    Task-IL as in van de Ven & Tolias, 2019, "Three scenarios for continual learning".
    Same tasks and streams as :func:`scenarios.class_incremental.class_incremental` with
    ``ScenarioPlan.task_incremental=True``: evaluation masks logits to the task's classes
    (``fedsim.client.training_loop.evaluate(class_mask=...)``) and so does local training
    (the ``class_mask`` of ``fedsim.client.training_loop.train_local``), i.e. one head per task
    on a shared output layer.

    Parameters
    ----------
    train_labels, test_labels, seed, num_tasks, classes_per_task, class_order, **stream
        As for :func:`~scenarios.class_incremental.class_incremental`; ``blurry`` and
        ``task_agnostic`` are rejected (a task id is given, and a task holds only its classes).

    Returns
    -------
    ScenarioPlan
        The plan with ``task_incremental=True`` and ``kind="task_incremental"``.
    """
    if float(stream.get("blurry", 0.0)) > 0:
        raise ValueError("blurry > 0 cannot be combined with task_incremental (masked heads)")
    if bool(stream.get("task_agnostic", False)):
        raise ValueError("task_agnostic=true contradicts task_incremental (task id is given)")
    plan = class_incremental(
        train_labels=train_labels,
        test_labels=test_labels,
        seed=seed,
        num_tasks=num_tasks,
        classes_per_task=classes_per_task,
        class_order=class_order,
        **stream,
    )
    return dataclasses.replace(plan, kind="task_incremental", task_incremental=True)
