"""Class-incremental streams: disjoint class splits, optionally with blurry boundaries."""

from __future__ import annotations

from typing import Any

import numpy as np

from scenarios.streams import StreamKnobs, build_streams
from scenarios.types import ScenarioPlan, Task


def _check(name: str, value: int, low: int) -> None:
    if int(value) < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def num_classes_of(train_labels: np.ndarray, test_labels: np.ndarray) -> int:
    """Size of the label space (largest label + 1 over both splits)."""
    return int(max(np.max(train_labels), np.max(test_labels)) + 1)


def class_incremental(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_tasks: int = 5,
    classes_per_task: int = 2,
    class_order: str = "sorted",
    **stream: Any,
) -> ScenarioPlan:
    """Split the label space into disjoint tasks; every client meets them in its own order.

    Each task's training pool (all train examples of its classes) is split among the
    clients that hold the task, so client train sets are disjoint and together cover every
    pool. With ``blurry > 0`` a share of each client's earlier-task examples keeps appearing in
    its later tasks (blurry boundaries, Koh et al., ICLR 2022); pools stay disjoint and covered.

    Parameters
    ----------
    train_labels, test_labels : numpy.ndarray
        Labels of the data source's train and test splits.
    seed : int
        Run seed; the plan is a pure function of it and the parameters.
    num_tasks, classes_per_task : int
        Task layout (``num_tasks * classes_per_task`` classes used).
    class_order : str
        ``"sorted"`` (task k holds classes k*cpt..) or ``"random"`` (seeded shuffle).
    **stream
        Per-client heterogeneity knobs of :class:`scenarios.streams.StreamKnobs`
        (``num_clients``, ``rounds_per_task``, ``max_arrival_delay``, ``order``,
        ``tasks_per_client``, ``duration_jitter``, ``max_gap``, ``leave_fraction``,
        ``recur_prob``, ``recur_power``, ``blurry``, ``partition``, ``alpha``, ...).

    Returns
    -------
    ScenarioPlan
        Global tasks and one stream per client.
    """
    knobs = StreamKnobs(**stream)
    _check("num_tasks", num_tasks, 1)
    _check("classes_per_task", classes_per_task, 1)
    if class_order not in ("sorted", "random"):
        raise ValueError(f"class_order must be one of sorted, random; got '{class_order}'")
    classes = np.unique(train_labels)
    needed = num_tasks * classes_per_task
    if needed > len(classes):
        raise ValueError(
            f"num_tasks * classes_per_task = {needed} exceeds "
            f"the {len(classes)} classes of the data"
        )
    knobs.tasks_each(num_tasks)
    rng = np.random.default_rng([int(seed), 1])
    if class_order == "random":
        classes = rng.permutation(classes)
    task_classes = [
        tuple(int(c) for c in classes[k * classes_per_task : (k + 1) * classes_per_task])
        for k in range(num_tasks)
    ]
    tasks = tuple(
        Task(
            task_id=k,
            classes=cls,
            test_idx=np.flatnonzero(np.isin(test_labels, cls)),
            name="classes " + ",".join(str(c) for c in cls),
        )
        for k, cls in enumerate(task_classes)
    )
    pools = [np.flatnonzero(np.isin(train_labels, cls)) for cls in task_classes]
    streams, last_round = build_streams(knobs, pools=pools, labels=train_labels, rng=rng)
    return ScenarioPlan(
        kind="blurry_class_incremental" if knobs.blurry > 0 else "class_incremental",
        tasks=tasks,
        streams=streams,
        num_rounds=last_round,
        num_classes=num_classes_of(train_labels, test_labels),
        info={
            "num_tasks": num_tasks,
            "classes_per_task": classes_per_task,
            "class_order": class_order,
            **knobs.info(),
        },
    )
