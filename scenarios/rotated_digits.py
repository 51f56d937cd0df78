"""A minimal domain-incremental stream: the same classes seen under rotations of the input.

Written for the adapter comparison (issue 5) while the full domain-incremental generator
(issue 3) was in progress. Tasks share all classes; task ``k`` shows the images rotated by
``angles[k]`` degrees (domain ``rot:<deg>`` of :mod:`scenarios.domains`; multiples of 90 are
exact, lossless ``torch.rot90``). Every task has its
own disjoint part of the train split; its test set is the whole test split, rotated.
"""

from __future__ import annotations

import numpy as np

from scenarios.partition import split_pool
from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot


def rotated_digits(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_clients: int = 6,
    angles: tuple[int, ...] | list[int] = (0, 90, 180, 270),
    rounds_per_task: int = 2,
    partition: str = "iid",
    alpha: float = 0.5,
) -> ScenarioPlan:
    """Domain-incremental plan: every client meets the rotations in the same order.

    Parameters
    ----------
    train_labels, test_labels : numpy.ndarray
        Labels of the data source's train and test splits.
    seed : int
        Run seed; the plan is a pure function of it and the parameters.
    num_clients : int
        Federation size; each task's train part is split among all clients.
    angles : sequence of int
        Rotation of each task in degrees, multiples of 90 (0 is the identity).
    rounds_per_task : int
        Rounds every client spends on each task (all clients start in round 1).
    partition, alpha : str, float
        How a task's train part is split among clients (see ``scenarios.partition``).

    Returns
    -------
    ScenarioPlan
        ``len(angles)`` tasks over all classes, one stream per client.
    """
    if int(num_clients) < 1:
        raise ValueError(f"num_clients must be >= 1, got {num_clients}")
    if int(rounds_per_task) < 1:
        raise ValueError(f"rounds_per_task must be >= 1, got {rounds_per_task}")
    angles = [int(a) for a in angles]
    if not angles or any(a % 90 or a < 0 for a in angles) or len(set(angles)) != len(angles):
        raise ValueError(f"angles must be distinct non-negative multiples of 90, got {angles}")
    rng = np.random.default_rng([int(seed), 3])
    classes = tuple(int(c) for c in np.unique(train_labels))
    pools = np.array_split(rng.permutation(len(train_labels)), len(angles))
    all_test = np.arange(len(test_labels))
    tasks = tuple(
        Task(
            task_id=k,
            classes=classes,
            test_idx=all_test,
            domain="identity" if a % 360 == 0 else f"rot:{a}",
            name=f"rotated {a} deg",
        )
        for k, a in enumerate(angles)
    )
    parts = [
        split_pool(np.sort(pool), train_labels, num_clients, rng=rng, method=partition, alpha=alpha)
        for pool in pools
    ]
    streams = tuple(
        ClientStream(
            cid,
            tuple(
                TaskSlot(k, 1 + k * rounds_per_task, (k + 1) * rounds_per_task, parts[k][cid])
                for k in range(len(angles))
            ),
        )
        for cid in range(num_clients)
    )
    return ScenarioPlan(
        kind="domain_incremental",
        tasks=tasks,
        streams=streams,
        num_rounds=len(angles) * rounds_per_task,
        num_classes=int(max(np.max(train_labels), np.max(test_labels)) + 1),
        info={"num_clients": num_clients, "angles": angles, "rounds_per_task": rounds_per_task},
    )
