"""FedProto-style label skew: each client holds a few classes with a few shots each."""

from __future__ import annotations

import numpy as np

from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot


def label_skew(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    num_clients: int = 10,
    ways: int = 3,
    shots: int = 20,
    stdev: int = 1,
    test_shots: int | None = None,
    num_rounds: int = 20,
) -> ScenarioPlan:
    """One static task per client: ``n_i`` classes with ``k_i`` training shots each.

    Mirrors FedProto's sampler (``lib/sampling.py``, ``*_noniid_lt``; Tan et al., AAAI 2022):
    ``n_i ~ U{max(2, ways - stdev) .. min(C, ways + stdev)}`` classes drawn without
    replacement, ``k_i ~ U{shots - stdev + 1 .. shots + stdev}`` shots per class (the
    CIFAR-10/FEMNIST rule; MNIST's upper bound is ``shots + stdev - 2``); training examples are
    disjoint across clients (the official code takes client-disjoint blocks of the
    label-sorted index). A client's test set is ``test_shots`` test examples of each of its
    classes (None: all of them; test examples may be shared between clients, as in the
    official code). Every client trains its one task in every round; client ``c``'s task is
    global task ``c`` (its own classes and test set), so per-task accuracies are per-client
    test accuracies.

    Parameters
    ----------
    train_labels, test_labels : numpy.ndarray
        Labels of the data source's train and test splits.
    seed : int
        Run seed; the plan is a pure function of it and the parameters.
    num_clients, ways, shots, stdev : int
        Federation size, mean classes per client, shots per class and their spread
        (FedProto's MNIST setting: 20, 3, 100, 2).
    test_shots : int, optional
        Test examples per class per client (FedProto's MNIST code: 40).
    num_rounds : int
        Rounds every client trains.

    Returns
    -------
    ScenarioPlan
        ``num_clients`` tasks, one single-slot stream per client.
    """
    for name, value, low in (
        ("num_clients", num_clients, 1),
        ("ways", ways, 1),
        ("shots", shots, 1),
        ("stdev", stdev, 0),
        ("num_rounds", num_rounds, 1),
    ):
        if int(value) < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if test_shots is not None and int(test_shots) < 1:
        raise ValueError(f"test_shots must be >= 1 or null, got {test_shots}")
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    classes = np.unique(train_labels)
    lo, hi = max(min(2, len(classes)), ways - stdev), min(len(classes), ways + stdev)
    if lo > hi:
        raise ValueError(f"ways={ways} with stdev={stdev} exceeds the {len(classes)} classes")
    k_lo = max(1, shots - stdev + 1)
    k_hi = max(k_lo, shots + stdev)
    rng = np.random.default_rng([int(seed), 7])
    ways_of = rng.integers(lo, hi + 1, size=num_clients)
    shots_of = rng.integers(k_lo, k_hi + 1, size=num_clients)
    chosen = [rng.choice(classes, size=int(n), replace=False) for n in ways_of]
    demand = {int(c): 0 for c in classes}
    for cls, k in zip(chosen, shots_of, strict=True):
        for c in cls:
            demand[int(c)] += int(k)
    pools = {}
    for c in classes:
        pool = np.flatnonzero(train_labels == c)
        if demand[int(c)] > len(pool):
            raise ValueError(
                f"class {int(c)} needs {demand[int(c)]} training examples but has {len(pool)}; "
                "lower shots, ways or num_clients"
            )
        pools[int(c)] = list(rng.permutation(pool))
    tasks, streams = [], []
    for cid in range(num_clients):
        cls = tuple(sorted(int(c) for c in chosen[cid]))
        train_idx, test_idx = [], []
        for c in cls:
            train_idx += [pools[c].pop() for _ in range(int(shots_of[cid]))]
            pool = np.flatnonzero(test_labels == c)
            n = len(pool) if test_shots is None else min(int(test_shots), len(pool))
            test_idx += list(rng.choice(pool, size=n, replace=False))
        tasks.append(
            Task(
                task_id=cid,
                classes=cls,
                test_idx=np.sort(np.asarray(test_idx, dtype=np.int64)),
                name=f"client {cid}: classes " + ",".join(str(c) for c in cls),
            )
        )
        slot = TaskSlot(cid, 1, int(num_rounds), np.sort(np.asarray(train_idx, dtype=np.int64)))
        streams.append(ClientStream(cid, (slot,)))
    return ScenarioPlan(
        kind="label_skew",
        tasks=tuple(tasks),
        streams=tuple(streams),
        num_rounds=int(num_rounds),
        num_classes=int(max(np.max(train_labels), np.max(test_labels)) + 1),
        info={
            "num_clients": num_clients,
            "ways": ways,
            "shots": shots,
            "stdev": stdev,
            "test_shots": test_shots,
            "mean_ways": float(np.mean(ways_of)),
        },
    )
