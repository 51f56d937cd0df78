"""Run-time task ordering: candidates, choices and realised streams by hand; the client side."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from flwr.app import ConfigRecord

from fedsim import wire
from fedsim.client.plugins.task_curriculum import stream_for
from scenarios.curricula.curriculum import Curriculum
from scenarios.curricula.runtime_order import candidates, choose_next, realised_stream
from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot

# plan positions: 0 = task 0 (rounds 1-2), 1 = task 1 (3-4), 2 = task 2 (5-5), 3 = task 3 (6-7)
STREAM = ClientStream(
    0,
    (
        TaskSlot(0, 1, 2, np.array([0, 1])),
        TaskSlot(1, 3, 4, np.array([2, 3])),
        TaskSlot(2, 5, 5, np.array([4, 5])),
        TaskSlot(3, 6, 7, np.array([6, 7])),
    ),
)


def test_candidates_have_the_same_duration():
    assert candidates(STREAM, []) == [0, 1, 3]
    assert candidates(STREAM, [3]) == [0, 1]
    assert candidates(STREAM, [3, 0]) == [2]  # position 2 lasts 1 round: only task 2 fits
    assert candidates(STREAM, [3, 0, 2, 1]) == []


def test_choose_next_by_hand():
    scores = {0: 0.7, 1: 0.2, 3: 0.2}
    assert choose_next(scores, "curriculum") == 1  # tie 1/3 -> earliest position
    assert choose_next(scores, "anti") == 0
    picks = {choose_next(scores, "random", np.random.default_rng(s)) for s in range(30)}
    assert picks == {0, 1, 3}
    with pytest.raises(ValueError, match="ordering"):
        choose_next(scores, "sideways")


def test_realised_stream_keeps_rounds_and_moves_data():
    spans = lambda st: [(s.task_id, s.start_round, s.end_round) for s in st.slots]  # noqa: E731
    # task 3 first; undecided positions take the first undecided task of their length
    assert spans(realised_stream(STREAM, [3])) == [(3, 1, 2), (0, 3, 4), (2, 5, 5), (1, 6, 7)]
    ok = realised_stream(STREAM, [3, 1, 2, 0])
    assert spans(ok) == [(3, 1, 2), (1, 3, 4), (2, 5, 5), (0, 6, 7)]
    assert ok.slots[0].train_idx.tolist() == [6, 7]
    with pytest.raises(ValueError, match="duration"):  # task 1 (2 rounds) in position 2 (1)
        realised_stream(STREAM, [3, 0, 1])
    with pytest.raises(ValueError, match="distinct"):
        realised_stream(STREAM, [1, 1])


class ConstantModel(torch.nn.Module):
    """Predicts class 0 with high confidence whatever the input."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([4.0, 0.0, 0.0, 0.0]))

    def forward(self, x):
        return self.bias.expand(len(x), 4)


def fake_exp():
    # labels: task 0 is all class 0 (easy for the constant model), task 1 half class 0,
    # task 3 all class 3 (hard); task 2 lasts one round
    y = np.array([0, 0, 0, 3, 1, 2, 3, 3], dtype=np.int64)
    x = np.zeros((8, 1), dtype=np.float32)
    tasks = tuple(Task(k, (k,), np.array([], dtype=int)) for k in range(4))
    plan = ScenarioPlan("hand", tasks, (STREAM,), num_rounds=7, num_classes=4)
    return SimpleNamespace(
        plan=plan, data=SimpleNamespace(x_train=x, y_train=y), seed=0, transform_for=lambda t: None
    )


@pytest.mark.parametrize("ordering, first", [("curriculum", 0), ("anti", 3)])
def test_client_picks_easiest_or_hardest_with_the_global_model(ordering, first):
    cfg = ConfigRecord(
        Curriculum(tasks={"ordering": ordering, "score": "global_loss"}).client_config()
    )
    assert cfg[wire.CURRICULUM_TASK_ORDER] == ordering
    exp = fake_exp()
    stream, decided = stream_for(exp, 0, 1, cfg, {}, ConstantModel())
    assert decided == [first] and stream.slots[0].task_id == first
    # evaluation (no model) only replays the decisions kept in the state
    again, same = stream_for(exp, 0, 2, cfg, {wire.CURRICULUM_DECIDED: decided})
    assert same == decided and again.slots[0].task_id == first


def test_client_that_skipped_positions_decides_them_in_order():
    cfg = ConfigRecord({wire.CURRICULUM_TASK_ORDER: "curriculum"})
    # first trained in round 5 (position 2): decides positions 0, 1 (2-round tasks) then 2
    stream, decided = stream_for(fake_exp(), 0, 5, cfg, {}, ConstantModel())
    assert decided == [0, 1, 2]
    assert stream.slot_at(5) == 2 and stream.slots[2].task_id == 2


def test_plan_is_left_alone_without_the_item():
    stream, decided = stream_for(fake_exp(), 0, 1, ConfigRecord({}), {}, ConstantModel())
    assert stream is STREAM and decided == []


def test_runtime_score_needs_an_ordering():
    with pytest.raises(ValueError, match="global_loss"):
        Curriculum(tasks={"ordering": "scenario", "score": "global_loss"})
