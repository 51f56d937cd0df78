"""FedProto-style label-skew plans: invariants, determinism, bad arguments."""

import numpy as np
import pytest

from scenarios.label_skew import label_skew

TRAIN = np.repeat(np.arange(10), 100)
TEST = np.repeat(np.arange(10), 30)


def plan(seed=0, **kw):
    args = dict(num_clients=12, ways=3, shots=10, stdev=2, test_shots=15, num_rounds=5)
    args.update(kw)
    return label_skew(train_labels=TRAIN, test_labels=TEST, seed=seed, **args)


def test_clients_hold_few_classes_with_disjoint_shots():
    p = plan()
    assert p.num_clients == 12 and len(p.tasks) == 12 and p.num_rounds == 5
    used = np.concatenate([s.slots[0].train_idx for s in p.streams])
    assert len(used) == len(np.unique(used)), "training examples shared between clients"
    for s in p.streams:
        (slot,) = s.slots
        task = p.tasks[slot.task_id]
        assert slot.task_id == s.client_id and (slot.start_round, slot.end_round) == (1, 5)
        labels = TRAIN[slot.train_idx]
        assert set(labels) == set(task.classes)
        assert 2 <= len(task.classes) <= 5  # U{max(2, 3-2) .. 3+2}
        per_class = np.bincount(labels)[list(task.classes)]
        assert len(set(per_class)) == 1 and 9 <= per_class[0] <= 12  # U{10-2+1 .. 10+2}
        assert set(TEST[task.test_idx]) == set(task.classes)
        assert len(task.test_idx) == 15 * len(task.classes)


def test_same_seed_same_plan_different_seed_different_plan():
    a, b, c = plan(), plan(), plan(seed=1)
    assert [t.classes for t in a.tasks] == [t.classes for t in b.tasks]
    assert all(
        np.array_equal(x.slots[0].train_idx, y.slots[0].train_idx)
        for x, y in zip(a.streams, b.streams, strict=True)
    )
    assert [t.classes for t in a.tasks] != [t.classes for t in c.tasks]


def test_all_test_examples_when_test_shots_is_none():
    p = plan(test_shots=None)
    for t in p.tasks:
        assert len(t.test_idx) == 30 * len(t.classes)


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"shots": 95}, "training examples but has 100"),
        ({"num_clients": 0}, "num_clients must be >= 1"),
        ({"ways": 12, "stdev": 0}, "exceeds the 10 classes"),
        ({"test_shots": 0}, "test_shots must be >= 1"),
    ],
)
def test_bad_arguments_raise_value_error(kw, needle):
    with pytest.raises(ValueError, match=needle):
        plan(**kw)
