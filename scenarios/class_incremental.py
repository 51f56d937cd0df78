"""Class-incremental streams with per-client task orders and arrival rounds."""

from __future__ import annotations

import numpy as np

from scenarios.partition import split_pool
from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot


def _check(name: str, value: int, low: int) -> None:
    if int(value) < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def class_incremental(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_clients: int = 20,
    num_tasks: int = 5,
    classes_per_task: int = 2,
    rounds_per_task: int = 3,
    max_arrival_delay: int = 2,
    order: str = "per_client",
    class_order: str = "sorted",
    partition: str = "iid",
    alpha: float = 0.5,
) -> ScenarioPlan:
    """Split the label space into disjoint tasks; every client meets them in its own order.

    Each task's training pool (all train examples of its classes) is split among all
    clients, so client train sets are disjoint and together cover every pool. Client
    ``c`` arrives at round ``1 + a_c`` with ``a_c ~ U{0..max_arrival_delay}`` and trains
    each of its tasks for ``rounds_per_task`` rounds.

    Parameters
    ----------
    train_labels, test_labels : numpy.ndarray
        Labels of the data source's train and test splits.
    seed : int
        Run seed; the plan is a pure function of it and the parameters.
    num_clients, num_tasks, classes_per_task : int
        Federation size and task layout (``num_tasks * classes_per_task`` classes used).
    rounds_per_task : int
        Rounds a client spends on each task.
    max_arrival_delay : int
        Largest arrival offset in rounds (0: everyone starts in round 1).
    order : str
        ``"per_client"`` (each client its own random task order) or ``"shared"``.
    class_order : str
        ``"sorted"`` (task k holds classes k*cpt..) or ``"random"`` (seeded shuffle).
    partition : str
        How a task pool is split among clients: ``"iid"`` or ``"dirichlet"`` (label skew).
    alpha : float
        Dirichlet concentration for ``partition="dirichlet"``.

    Returns
    -------
    ScenarioPlan
        Global tasks and one stream per client.
    """
    _check("num_clients", num_clients, 1)
    _check("num_tasks", num_tasks, 1)
    _check("classes_per_task", classes_per_task, 1)
    _check("rounds_per_task", rounds_per_task, 1)
    _check("max_arrival_delay", max_arrival_delay, 0)
    if order not in ("per_client", "shared"):
        raise ValueError(f"order must be one of per_client, shared; got '{order}'")
    if class_order not in ("sorted", "random"):
        raise ValueError(f"class_order must be one of sorted, random; got '{class_order}'")
    classes = np.unique(train_labels)
    needed = num_tasks * classes_per_task
    if needed > len(classes):
        raise ValueError(
            f"num_tasks * classes_per_task = {needed} exceeds "
            f"the {len(classes)} classes of the data"
        )
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
    parts = [
        split_pool(
            np.flatnonzero(np.isin(train_labels, cls)),
            train_labels,
            num_clients,
            rng=rng,
            method=partition,
            alpha=alpha,
        )
        for cls in task_classes
    ]
    streams = []
    last_round = 0
    for cid in range(num_clients):
        task_order = rng.permutation(num_tasks) if order == "per_client" else np.arange(num_tasks)
        arrival = int(rng.integers(0, max_arrival_delay + 1))
        slots = []
        for pos, k in enumerate(task_order):
            start = 1 + arrival + pos * rounds_per_task
            slots.append(TaskSlot(int(k), start, start + rounds_per_task - 1, parts[k][cid]))
        last_round = max(last_round, slots[-1].end_round)
        streams.append(ClientStream(cid, tuple(slots)))
    return ScenarioPlan(
        kind="class_incremental",
        tasks=tasks,
        streams=tuple(streams),
        num_rounds=last_round,
        num_classes=int(max(np.max(train_labels), np.max(test_labels)) + 1),
        info={
            "num_clients": num_clients,
            "num_tasks": num_tasks,
            "classes_per_task": classes_per_task,
            "rounds_per_task": rounds_per_task,
            "max_arrival_delay": max_arrival_delay,
            "order": order,
            "partition": partition,
        },
    )
