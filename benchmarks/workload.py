"""The benchmark workload, shared by all three implementations.

Every registered client owns ``samples_per_client`` digits drawn (with replacement across
clients) as a pure function of (seed, client id); one task with all ten classes; each round a
fixed number of clients trains one local epoch of mini-batch SGD and the server averages.
"""

from __future__ import annotations

import numpy as np

from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot

SAMPLES_PER_CLIENT = 32


def client_indices(seed: int, client_id: int, num_train: int, size: int) -> np.ndarray:
    """Train indices of one client (identical in every implementation)."""
    rng = np.random.default_rng([int(seed), 7919, int(client_id)])
    return np.sort(rng.choice(num_train, size=size, replace=False))


def iid_clients(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_clients: int = 1000,
    num_rounds: int = 5,
    samples_per_client: int = SAMPLES_PER_CLIENT,
) -> ScenarioPlan:
    """One all-classes task every client trains for ``num_rounds`` rounds (a fedsim scenario)."""
    if num_clients < 1 or num_rounds < 1 or samples_per_client < 1:
        raise ValueError("num_clients, num_rounds and samples_per_client must be >= 1")
    n = len(train_labels)
    classes = tuple(int(c) for c in np.unique(train_labels))
    task = Task(0, classes, np.arange(len(test_labels)), name="all digits")
    streams = tuple(
        ClientStream(
            cid,
            (TaskSlot(0, 1, num_rounds, client_indices(seed, cid, n, samples_per_client)),),
        )
        for cid in range(num_clients)
    )
    return ScenarioPlan(
        kind="bench_iid",
        tasks=(task,),
        streams=streams,
        num_rounds=num_rounds,
        num_classes=len(classes),
        info={"num_clients": num_clients, "samples_per_client": samples_per_client},
    )
