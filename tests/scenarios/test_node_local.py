"""scenarios.node_local: a plan from a task layout and the labels that are *here*."""

import numpy as np
import pytest

from scenarios.node_local import node_local

TASKS = [[0, 1], [2, 3]]


def plan(labels, test=(), **kw):
    return node_local(
        train_labels=np.asarray(labels),
        test_labels=np.asarray(test, dtype=np.int64),
        seed=0,
        tasks=kw.pop("tasks", TASKS),
        num_clients=kw.pop("num_clients", 2),
        **kw,
    )


def test_slots_index_the_local_examples_of_each_task_in_the_client_order():
    labels = np.array([3, 0, 1, 2, 2, 0, 9])  # a node's own labels; 9 is in no task
    p = plan(labels, test=[1, 2, 3], rounds_per_task=3, orders={"1": [1, 0]})
    by_hand = {0: [1, 2, 5], 1: [0, 3, 4]}  # positions of labels in {0,1} and {2,3}
    s0, s1 = p.streams
    assert [(s.task_id, s.start_round, s.end_round) for s in s0.slots] == [(0, 1, 3), (1, 4, 6)]
    assert [(s.task_id, s.start_round, s.end_round) for s in s1.slots] == [(1, 1, 3), (0, 4, 6)]
    for slot in (*s0.slots, *s1.slots):
        assert slot.train_idx.tolist() == by_hand[slot.task_id]
    assert [t.test_idx.tolist() for t in p.tasks] == [[0], [1, 2]]
    assert p.num_rounds == 6 and p.num_classes == 4 and p.kind == "node_local"


def test_server_side_plan_has_the_same_timing_and_no_training_indices():
    here = plan([0, 1, 2, 3], orders={1: [1]})
    server = plan(np.zeros(0, dtype=np.int64), orders={1: [1]})
    for a, b in zip(here.streams, server.streams, strict=True):
        assert [(s.task_id, s.start_round, s.end_round) for s in a.slots] == [
            (s.task_id, s.start_round, s.end_round) for s in b.slots
        ]
        assert all(len(s.train_idx) == 0 for s in b.slots)
    assert [len(t.test_idx) for t in server.tasks] == [0, 0]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"tasks": [[0, 1], [1, 2]]}, "share classes"),
        ({"tasks": []}, "non-empty"),
        ({"orders": {"0": [0, 0]}}, r"orders\[0\]"),
        ({"orders": {"1": [2]}}, r"orders\[1\]"),
        ({"rounds_per_task": 0}, "rounds_per_task"),
        ({"num_clients": 0}, "num_clients"),
        ({"num_classes": 3}, "num_classes"),
    ],
)
def test_bad_arguments_raise_before_any_work(kw, match):
    with pytest.raises(ValueError, match=match):
        plan([0, 1], **kw)
