"""Bring your own scenario: a pure, keyword-only function returning a ``ScenarioPlan``.

It receives the data's labels and the run seed (plus its own parameters from the YAML) and
returns *indices*, never data. Randomness comes from a local generator seeded by the run seed.
Here: two tasks (the first half of the classes, then the second half); every client meets
them in the same order, and each task's training examples are split evenly among the clients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot


def two_halves(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_clients: int = 4,
    rounds_per_task: int = 2,
    **ignored: Any,
) -> ScenarioPlan:
    """Two class-incremental tasks shared by every client.

    Parameters
    ----------
    train_labels, test_labels : numpy.ndarray
        Labels of the data source's splits.
    seed : int
        Run seed; the plan is a pure function of it and the parameters.
    num_clients, rounds_per_task : int
        Federation size and rounds spent on each task (>= 1).
    **ignored
        Keys of the default scenario group that this scenario does not use.
    """
    if num_clients < 1 or rounds_per_task < 1:
        raise ValueError("num_clients and rounds_per_task must be >= 1")
    classes = np.unique(train_labels)
    halves = np.array_split(classes, 2)
    rng = np.random.default_rng([int(seed), 21])
    tasks, pools = [], []
    for tid, half in enumerate(halves):
        tasks.append(Task(task_id=tid, classes=tuple(int(c) for c in half),
                          test_idx=np.flatnonzero(np.isin(test_labels, half))))
        pool = rng.permutation(np.flatnonzero(np.isin(train_labels, half)))
        pools.append(np.array_split(pool, num_clients))
    streams = tuple(
        ClientStream(client_id=c, slots=tuple(
            TaskSlot(task_id=t, start_round=1 + t * rounds_per_task,
                     end_round=(t + 1) * rounds_per_task, train_idx=np.sort(pools[t][c]))
            for t in range(2)))
        for c in range(num_clients)
    )
    return ScenarioPlan(kind="two_halves", tasks=tuple(tasks), streams=streams,
                        num_rounds=2 * rounds_per_task, num_classes=int(classes.max()) + 1)
