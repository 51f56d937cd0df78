"""Fed-Recon keeps the base phase: slots that end while the encoder still trains reach the bank
once, under the frozen encoder, the first time their client trains after the base phase."""

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

from fedsim import wire
from fedsim.client.learners.prototypes import (
    PrototypeLearner,
    pool_contributions,
    positions_to_send,
)
from fedsim.client.state import ClientState
from fedsim.experiment import get_experiment
from fedsim.server.app import FLOWER_SAMPLING
from strategies.fedrecon import FederatedReconnaissance
from strategies.prototypes import Contribution, bank_from_arrays, merge_online, without_bank
from tests.conftest import SMALL, compose
from tests.strategies.test_prototype_strategies import CohortGrid, _task_identity  # noqa: F401


@pytest.fixture(scope="module")
def exp():
    # one shared order: every client meets task 0 in round 1 and task 1 in round 2
    return get_experiment(compose(*SMALL, "scenario.order=shared", "scenario.max_arrival_delay=0"))


def test_positions_to_send_counts_every_started_slot_once(exp):
    stream = exp.plan.streams[0]
    assert [s.start_round for s in stream.slots] == [1, 2]
    assert positions_to_send("once-per-slot", stream, 2, 1, []) == [0, 1]  # catch up slot 0
    assert positions_to_send("once-per-slot", stream, 2, 1, [0]) == [1]
    assert positions_to_send("once-per-slot", stream, 2, 1, [0, 1]) == []
    assert positions_to_send("once-per-slot", stream, 1, 0, []) == [0]  # slot 1 not started
    assert positions_to_send("every-round", stream, 2, 1, [0, 1]) == [1]
    assert positions_to_send("never", stream, 2, 1, []) == []


def test_pooled_contribution_is_the_count_weighted_mean_per_class():
    a = Contribution(np.array([0, 3]), np.array([[1.0, 1.0], [0.0, 2.0]], np.float32),
                     np.array([2.0, 3.0]))
    b = Contribution(np.array([0]), np.array([[4.0, 4.0]], np.float32), np.array([1.0]))
    pooled = pool_contributions([a, b], 2)
    np.testing.assert_array_equal(pooled.classes, [0, 3])
    np.testing.assert_allclose(pooled.means, [[2.0, 2.0], [0.0, 2.0]])  # (2*1 + 1*4) / 3
    np.testing.assert_allclose(pooled.counts, [3.0, 3.0])
    # merged into a bank that holds class 0 at 0 with count 3: (3*0 + 3*2) / 6 = 1
    means, counts = merge_online(np.zeros((4, 2), np.float32), np.array([3.0, 0, 0, 0]),
                                 [pooled])
    np.testing.assert_allclose(means[0], [1.0, 1.0])
    np.testing.assert_allclose(means[3], [0.0, 2.0])
    np.testing.assert_allclose(counts, [6.0, 0, 0, 3.0])
    assert pool_contributions([], 2).classes.shape == (0,)


def run_round(s, exp, rnd, arrays, states, learner):
    msgs = list(s.configure_train(rnd, arrays, ConfigRecord(train_items()), CohortGrid([0, 1])))
    replies = []
    for msg in msgs:
        cid = int(msg.metadata.dst_node_id)
        cfg = msg.content[wire.CONFIG]
        out = learner.train(exp, cid, rnd, msg.content[wire.ARRAYS], cfg, states[cid])
        states[cid] = out.state
        metrics = MetricRecord({k: v for k, v in out.metrics.items() if v == v})
        content = RecordDict({wire.ARRAYS: out.arrays, wire.METRICS: metrics})
        replies.append(Message(content=content, dst_node_id=cid, message_type="train"))
    assert all(s.check_reply(r) is None for r in replies)
    new, _ = s.aggregate_train(rnd, replies)
    return new


def train_items() -> dict:
    return {wire.LOCAL_EPOCHS: 1, wire.BATCH_SIZE: 16, wire.OPTIMIZER: "sgd", wire.MOMENTUM: 0.0,
            wire.WEIGHT_DECAY: 0.0, wire.LR: 0.05}


def test_base_phase_slots_reach_the_bank_once_under_the_frozen_encoder(exp):
    s = FederatedReconnaissance(base_rounds=1, **FLOWER_SAMPLING)
    arrays = s.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))
    learner, states = PrototypeLearner(), {0: ClientState(), 1: ClientState()}
    arrays = run_round(s, exp, 1, arrays, states, learner)  # base phase: train, send nothing
    assert not bank_from_arrays(arrays)[1].any()
    frozen = exp.make_model()
    frozen.load_state_dict(without_bank(arrays).to_torch_state_dict())
    arrays = run_round(s, exp, 2, arrays, states, learner)  # frozen: slots 0 and 1 of both
    means, counts = bank_from_arrays(arrays)
    # expected bank, computed independently: mean frozen embedding per class over both
    # clients' train data of both slots (each example once)
    idx = np.concatenate([sl.train_idx for c in (0, 1) for sl in exp.plan.streams[c].slots])
    x, y = exp.data.x_train[idx], exp.data.y_train[idx]
    with torch.no_grad():
        z = frozen.eval().embed(torch.from_numpy(x)).double().numpy()
    for c in np.unique(y):
        np.testing.assert_allclose(means[c], z[y == c].mean(axis=0), rtol=1e-4, atol=1e-5)
        assert counts[c] == np.count_nonzero(y == c)
    assert counts.sum() == len(idx)
    tasks = {t for c in (0, 1) for t in (sl.task_id for sl in exp.plan.streams[c].slots)}
    learned = {int(c) for t in tasks for c in exp.plan.tasks[t].classes}
    assert set(np.flatnonzero(counts)) == learned  # task 0's classes too
    assert all(states[c].config[wire.PROTO_SENT_SLOTS] == [0, 1] for c in (0, 1))
    again = run_round(s, exp, 2, arrays, states, learner)  # nothing counted twice
    np.testing.assert_array_equal(bank_from_arrays(again)[1], counts)
