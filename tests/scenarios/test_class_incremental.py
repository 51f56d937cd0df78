import numpy as np
import pytest

from fedsim.data.digits import DigitsSource
from scenarios.class_incremental import class_incremental


@pytest.fixture(scope="module")
def digits():
    return DigitsSource().load()


def plan(digits, **kw):
    return class_incremental(train_labels=digits.y_train, test_labels=digits.y_test, **kw)


def test_client_train_sets_are_disjoint_and_cover_each_task_pool(digits):
    p = plan(digits, seed=0, num_clients=7)
    for task in p.tasks:
        parts = [s.train_idx for st in p.streams for s in st.slots if s.task_id == task.task_id]
        allidx = np.concatenate(parts)
        assert len(allidx) == len(set(allidx.tolist())), "overlap between clients"
        pool = np.flatnonzero(np.isin(digits.y_train, task.classes))
        assert set(allidx.tolist()) == set(pool.tolist()), "pool not covered"
        assert set(np.unique(digits.y_train[allidx]).tolist()) == set(task.classes)


def test_tasks_have_requested_disjoint_classes(digits):
    p = plan(digits, seed=1, num_tasks=3, classes_per_task=3)
    seen = [c for t in p.tasks for c in t.classes]
    assert all(len(t.classes) == 3 for t in p.tasks)
    assert len(seen) == len(set(seen)) == 9
    for t in p.tasks:
        assert set(np.unique(digits.y_test[t.test_idx]).tolist()) == set(t.classes)


def test_same_seed_same_plan_different_seed_different_plan(digits):
    a, b, c = plan(digits, seed=3), plan(digits, seed=3), plan(digits, seed=4)

    def sig(p):
        return [
            (s.task_id, s.start_round, s.end_round, s.train_idx.tolist())
            for st in p.streams
            for s in st.slots
        ]

    assert sig(a) == sig(b)
    assert sig(a) != sig(c)


def test_heterogeneous_orders_and_arrivals(digits):
    p = plan(digits, seed=0, num_clients=20, max_arrival_delay=3, rounds_per_task=2)
    orders = {tuple(s.task_id for s in st.slots) for st in p.streams}
    arrivals = {st.slots[0].start_round for st in p.streams}
    assert len(orders) > 1 and len(arrivals) > 1
    for st in p.streams:
        assert sorted(s.task_id for s in st.slots) == list(range(5))
        for a, b in zip(st.slots, st.slots[1:], strict=False):
            assert b.start_round == a.end_round + 1
            assert a.end_round - a.start_round + 1 == 2
    assert p.num_rounds == max(st.slots[-1].end_round for st in p.streams)


def test_shared_order(digits):
    p = plan(digits, seed=0, order="shared", num_clients=3)
    assert all([s.task_id for s in st.slots] == [0, 1, 2, 3, 4] for st in p.streams)


@pytest.mark.parametrize(
    "kw, text",
    [
        ({"num_clients": 0}, "num_clients must be >= 1"),
        ({"num_tasks": 6}, "exceeds the 10 classes"),
        ({"rounds_per_task": 0}, "rounds_per_task"),
        ({"order": "zigzag"}, "order must be one of"),
        ({"num_clients": 1000}, "cannot split"),
    ],
)
def test_invalid_arguments_raise_before_work(digits, kw, text):
    with pytest.raises(ValueError, match=text):
        plan(digits, seed=0, **kw)
