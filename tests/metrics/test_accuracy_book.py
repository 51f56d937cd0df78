"""The accuracy book places every evaluation under the task the client really met."""

import math

import numpy as np
import pytest

from fedsim.metrics import continual as metrics
from fedsim.metrics.accuracy_book import AccuracyBook
from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot


def _plan(order=(0, 1, 2)):
    tasks = tuple(
        Task(task_id=t, classes=(2 * t, 2 * t + 1), test_idx=np.arange(1)) for t in range(3)
    )
    slots = tuple(
        TaskSlot(task_id=t, start_round=1 + k, end_round=1 + k, train_idx=np.arange(2))
        for k, t in enumerate(order)
    )
    return ScenarioPlan(
        kind="test", tasks=tasks, streams=(ClientStream(0, slots),), num_rounds=3, num_classes=6
    )


def test_static_order_positions_only_protocol():
    book = AccuracyBook(_plan())
    assert book.record_client(0, 1, [0, 1], [0.9, 0.2])
    assert book.record_client(0, 2, [0, 1, 2], [0.8, 0.7, 0.1])
    assert not book.record_client(0, 5, [0], [0.5])  # no boundary in round 5
    a = book.client[0]
    assert a[0, 0] == 0.9 and a[0, 1] == 0.2 and a[1, 2] == 0.1 and math.isnan(a[2, 0])


def test_runtime_order_next_task_cell_is_the_task_then_taken():
    book = AccuracyBook(_plan())
    book.record_central(0, np.array([0.10, 0.20, 0.30]))
    # after position 0 (the client took task 2 there); next position undecided: tasks 0, 1
    book.record_client(0, 1, [0, 1, 1], [0.9, 0.35, 0.45], task_ids=[2, 0, 1], order=[2])
    assert book.order_of(0) == [2, -1, -1]
    assert math.isnan(book.client[0][0, 1])  # not known yet which candidate counts
    # position 1 took task 0; next is task 1 (the only candidate left)
    book.record_client(0, 2, [0, 1, 2], [0.8, 0.7, 0.5], task_ids=[2, 0, 1], order=[2, 0])
    book.record_client(0, 3, [0, 1, 2], [0.6, 0.6, 0.9], task_ids=[2, 0, 1], order=[2, 0, 1])
    a = book.client[0]
    want = np.array([[0.9, 0.35, 0.45], [0.8, 0.7, 0.5], [0.6, 0.6, 0.9]])
    np.testing.assert_allclose(a, want)
    np.testing.assert_allclose(book.initial_for(0), [0.30, 0.10, 0.20])
    got = book.federation_metrics()
    assert got["fwt"] == pytest.approx(((0.35 - 0.10) + (0.5 - 0.20)) / 2)
    assert got["forgetting"] == pytest.approx(((0.9 - 0.6) + (0.7 - 0.6)) / 2)
    assert got["fwt"] == pytest.approx(metrics.forward_transfer(want, np.array([0.3, 0.1, 0.2])))


def test_state_dict_round_trip_keeps_cells_and_order():
    book = AccuracyBook(_plan())
    book.record_client(0, 1, [0, 1, 1], [0.9, 0.35, 0.45], task_ids=[2, 0, 1], order=[2])
    other = AccuracyBook(_plan())
    other.load_state_dict(book.state_dict())
    other.record_client(0, 2, [0, 1, 2], [0.8, 0.7, 0.5], task_ids=[2, 0, 1], order=[2, 0])
    assert other.client[0][0, 1] == 0.35 and other.order_of(0) == [2, 0, -1]
