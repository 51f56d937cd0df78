"""A scenario of its own: it declares only what it uses (fedsim passes nothing else)."""

from __future__ import annotations

import numpy as np

from scenarios.class_incremental import class_incremental
from scenarios.types import ScenarioPlan


def two_tasks(
    *, train_labels: np.ndarray, test_labels: np.ndarray, seed: int, num_clients: int = 2
) -> ScenarioPlan:
    """The label space in two halves, one task each, every client meeting both in turn."""
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    return class_incremental(
        train_labels=train_labels,
        test_labels=test_labels,
        seed=seed,
        num_tasks=2,
        classes_per_task=num_classes // 2,
        num_clients=num_clients,
        rounds_per_task=1,
        max_arrival_delay=0,
    )
