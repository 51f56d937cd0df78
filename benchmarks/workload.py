"""The benchmark workload, shared by all three implementations.

Every registered client owns ``samples_per_client`` digits drawn (with replacement across
clients) as a pure function of (seed, client id); one task with all ten classes; each round a
fixed number of clients trains one local epoch of mini-batch SGD and the server averages.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from scenarios.types import ClientStream, LazyStreams, ScenarioPlan, Task, TaskSlot

SAMPLES_PER_CLIENT = 32


def client_indices(seed: int, client_id: int, num_train: int, size: int) -> np.ndarray:
    """Train indices of one client (identical in every implementation)."""
    rng = np.random.default_rng([int(seed), 7919, int(client_id)])
    return np.sort(rng.choice(num_train, size=size, replace=False))


def client_stream(
    client_id: int, *, seed: int, num_train: int, num_rounds: int, samples_per_client: int
) -> ClientStream:
    """The one-slot stream of one client (built on demand by :class:`LazyStreams`)."""
    idx = client_indices(seed, client_id, num_train, samples_per_client)
    return ClientStream(client_id, (TaskSlot(0, 1, num_rounds, idx),))


def iid_clients(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_clients: int = 1000,
    num_rounds: int = 5,
    samples_per_client: int = SAMPLES_PER_CLIENT,
) -> ScenarioPlan:
    """One all-classes task every client trains for ``num_rounds`` rounds (a fedsim scenario).

    Streams are lazy: like the plain-Flower and raw implementations, which draw a client's
    indices when it is sampled, a fedsim actor builds only its sampled clients' streams.
    """
    if num_clients < 1 or num_rounds < 1 or samples_per_client < 1:
        raise ValueError("num_clients, num_rounds and samples_per_client must be >= 1")
    n = len(train_labels)
    classes = tuple(int(c) for c in np.unique(train_labels))
    task = Task(0, classes, np.arange(len(test_labels)), name="all digits")
    streams = LazyStreams(
        num_clients,
        partial(
            client_stream,
            seed=seed,
            num_train=n,
            num_rounds=num_rounds,
            samples_per_client=samples_per_client,
        ),
        active_rounds=(1, num_rounds),  # every client, every round: no O(clients) scan
    )
    return ScenarioPlan(
        kind="bench_iid",
        tasks=(task,),
        streams=streams,
        num_rounds=num_rounds,
        num_classes=len(classes),
        info={"num_clients": num_clients, "samples_per_client": samples_per_client},
    )
