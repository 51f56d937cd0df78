"""Task-level curricula: orderings against hand-computed scores; determinism with a seed."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from scenarios.class_incremental import class_incremental
from scenarios.curricula.curriculum import Curriculum
from scenarios.curricula.task_order import TaskOrder, order_positions, slot_score
from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot

# Train labels of a hand-made stream (indices 0..11 into this array):
#   slot 0 (task 0): labels [0, 1, 2, 3]  -> entropy ln 4 = 1.386, 4 classes, size 4
#   slot 1 (task 1): labels [5, 5, 5]     -> entropy 0,           1 class,   size 3
#   slot 2 (task 2): labels [6, 6, 7, 7, 8] -> entropy 1.055,     3 classes, size 5
LABELS = np.array([0, 1, 2, 3, 5, 5, 5, 6, 6, 7, 7, 8])
DATA = SimpleNamespace(y_train=LABELS)


def hand_plan() -> ScenarioPlan:
    tasks = tuple(Task(k, (k,), np.array([], dtype=int)) for k in range(3))
    slots = (
        TaskSlot(0, 2, 3, np.arange(0, 4)),  # 2 rounds
        TaskSlot(1, 4, 4, np.arange(4, 7)),  # 1 round
        TaskSlot(2, 6, 8, np.arange(7, 12)),  # 3 rounds, after a 1-round gap
    )
    return ScenarioPlan("hand", tasks, (ClientStream(0, slots),), num_rounds=8, num_classes=9)


def test_slot_scores_by_hand():
    assert slot_score(LABELS[0:4], "label_entropy") == pytest.approx(math.log(4))
    assert slot_score(LABELS[4:7], "label_entropy") == 0.0
    p = np.array([2, 2, 1]) / 5
    assert slot_score(LABELS[7:12], "label_entropy") == pytest.approx(-(p * np.log(p)).sum())
    assert [slot_score(LABELS[s], "class_count") for s in (slice(0, 4), slice(4, 7))] == [4, 1]
    assert slot_score(LABELS[7:12], "size") == 5


@pytest.mark.parametrize(
    "ordering, score, expected",
    [
        ("curriculum", "label_entropy", [1, 2, 0]),  # 0 < 1.055 < 1.386
        ("anti", "label_entropy", [0, 2, 1]),
        ("curriculum", "class_count", [1, 2, 0]),  # 1 < 3 < 4
        ("curriculum", "size", [1, 0, 2]),  # 3 < 4 < 5
        ("anti", "size", [2, 0, 1]),
        ("scenario", "label_entropy", [0, 1, 2]),
    ],
)
def test_task_orderings_by_hand(ordering, score, expected):
    plan = TaskOrder(ordering, score).apply(hand_plan(), seed=0, data=DATA)
    assert [s.task_id for s in plan.streams[0].slots] == expected


def test_rounds_reassigned_keeping_durations_and_gaps():
    plan = TaskOrder("curriculum", "label_entropy").apply(hand_plan(), seed=0, data=DATA)
    # new order: task 1 (1 round), task 2 (3 rounds), task 0 (2 rounds); start 2, gap of 1
    # between positions 1 and 2 as in the original stream
    spans = [(s.task_id, s.start_round, s.end_round) for s in plan.streams[0].slots]
    assert spans == [(1, 2, 2), (2, 3, 5), (0, 7, 8)]
    assert plan.num_rounds == 8
    # the data travels with the task
    assert plan.streams[0].slots[0].train_idx.tolist() == [4, 5, 6]


def test_ties_keep_scenario_order_in_both_directions():
    scores = np.array([1.0, 0.0, 1.0, 0.0])
    assert order_positions(scores, "curriculum").tolist() == [1, 3, 0, 2]
    assert order_positions(scores, "anti").tolist() == [0, 2, 1, 3]


def real_plan(seed):
    from fedsim.data.digits import DigitsSource

    data = DigitsSource().load()
    plan = class_incremental(
        train_labels=data.y_train,
        test_labels=data.y_test,
        seed=0,
        num_clients=8,
        num_tasks=5,
        partition="dirichlet",
        alpha=0.3,
    )
    return plan, data


def test_random_ordering_is_deterministic_per_seed():
    plan, data = real_plan(0)
    cur = TaskOrder("random")
    orders = lambda p: [[s.task_id for s in st.slots] for st in p.streams]  # noqa: E731
    a = orders(cur.apply(plan, seed=3, data=data))
    assert a == orders(cur.apply(plan, seed=3, data=data))
    assert a != orders(cur.apply(plan, seed=4, data=data))
    assert all(sorted(o) == list(range(5)) for o in a)


def test_curriculum_on_real_plan_sorts_each_client_by_entropy():
    plan, data = real_plan(0)
    new = Curriculum(tasks={"ordering": "curriculum"}).apply(plan, seed=0, data=data)
    for stream, old in zip(new.streams, plan.streams, strict=True):
        ent = [slot_score(data.y_train[s.train_idx], "label_entropy") for s in stream.slots]
        assert ent == sorted(ent)
        assert [s.start_round for s in stream.slots] == [s.start_round for s in old.slots]
    assert new.num_rounds == plan.num_rounds


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"tasks": {"ordering": "easyfirst"}}, "tasks.ordering"),
        ({"tasks": {"score": "loss"}}, "tasks.score"),
        ({"tasks": {"order": "anti"}}, "tasks.order"),
        ({"data": {"ordering": "curriculum", "a": 0}}, "data.pacing_a"),
        ({"data": {"ordering": "curriculum", "b": 2}}, "data.pacing_b"),
        ({"data": {"ordering": "curriculum", "pacing": "cubic"}}, "data.pacing"),
        ({"data": {"scoring": "oracle"}}, "data.scoring"),
        ({"data": {"pacing": "cyclical", "cycle_multiplier": 2}}, "data.cycle_multiplier"),
        ({"data": {"pace": 1}}, "data.pace"),
    ],
)
def test_bad_curriculum_config(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        Curriculum(**kwargs)


def test_client_config_is_flat_and_typed():
    assert Curriculum().client_config() == {}
    items = Curriculum(data={"ordering": "anti", "pacing": "exp", "a": 0.5, "b": 0.1})
    cfg = items.client_config()
    assert cfg["curriculum.order"] == "anti" and cfg["curriculum.pacing"] == "exp"
    assert cfg["curriculum.pacing-a"] == 0.5 and cfg["curriculum.min-pool"] == 32
    assert all(isinstance(v, str | int | float | list) for v in cfg.values())
