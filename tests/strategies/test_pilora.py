"""PILoRA's server half on hand-made replies: re-weighting, per-task LoRA FedAvg, checks."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict

from fedsim import wire
from fedsim.adapters.bank import join_groups, split_groups
from fedsim.errors import ConfigError
from fedsim.server.app import FLOWER_SAMPLING
from strategies.pilora import PILoRA
from strategies.prototypes import (
    Contribution,
    bank_from_arrays,
    bank_to_arrays,
    contribution_to_arrays,
    reweight_weights,
    reweighted_prototypes,
)

C, D = 4, 2


@pytest.fixture(autouse=True)
def _task_identity(monkeypatch):
    from flwr.supercore.task_identity import TaskIdentity

    for attr in ("_run_id", "_task_id", "_node_id"):
        monkeypatch.setattr(TaskIdentity, attr, 1)


def test_reweighting_matches_hand_computed_weights():
    # 1-d: prototypes 0, 1, 3 and the same class features. Total distances to all features:
    # 0 -> 0+1+3 = 4, 1 -> 1+0+2 = 3, 3 -> 3+2+0 = 5; scores 1/4, 1/3, 1/5; min-max
    # normalised 0.375, 1, 0; divided by tau = 0.2: 1.875, 5, 0; softmax by hand:
    # e^1.875 = 6.52082, e^5 = 148.41316, e^0 = 1, sum 155.93398.
    p = np.array([[0.0], [1.0], [3.0]])
    w = reweight_weights(p, p.copy(), temperature=0.2)
    np.testing.assert_allclose(w, [6.52082 / 155.93398, 148.41316 / 155.93398, 1 / 155.93398],
                               rtol=1e-5)


def test_reweighting_is_uniform_for_one_client_or_equal_scores():
    np.testing.assert_allclose(reweight_weights(np.ones((1, 3)), np.zeros((1, 3))), [1.0])
    p = np.array([[1.0, 0.0], [-1.0, 0.0]])  # both at total distance 2 from features +-1
    np.testing.assert_allclose(reweight_weights(p, p.copy()), [0.5, 0.5])


def test_reweighted_prototypes_per_class_with_counts_summed():
    a = Contribution(np.array([0, 2]), np.array([[0.0, 0], [5, 5]]), np.array([3.0, 4]))
    b = Contribution(np.array([0]), np.array([[1.0, 0]]), np.array([2.0]))
    fa, fb = np.array([[0.0, 0], [4, 4]]), np.array([[1.0, 0]])
    means, counts = reweighted_prototypes(C, D, [a, b], [fa, fb], temperature=0.2)
    # class 0: both prototypes are at total distance 1 from the two features -> 1/2, 1/2
    np.testing.assert_allclose(means[0], [0.5, 0.0])
    np.testing.assert_allclose(means[2], [5.0, 5.0])  # one client: its prototype
    np.testing.assert_array_equal(counts, [5.0, 0, 4, 0])
    assert not means[1].any() and not means[3].any()


def lora(value):
    return {"features.1.lora_A.weight": np.full((2, 3), value, np.float32),
            "features.1.lora_B.weight": np.full((3, 2), value, np.float32)}


def strategy():
    s = PILoRA(**FLOWER_SAMPLING)
    s.num_classes, s.dim = C, D
    bank = bank_to_arrays(np.array([[9.0, 9], [0, 0], [0, 0], [0, 0]]), np.array([7.0, 0, 0, 0]))
    glob = dict(join_groups({"task0": lora(0.0), "task1": lora(1.0)}).items())
    glob.update(dict(bank.items()))
    s.reference_arrays(ArrayRecord(glob))
    return s


def reply(cid, task, value, n, classes, protos, feats, features_key=wire.PROTO_FEATURES):
    arrays = dict(join_groups({f"task{task}": lora(value)}).items())
    k = len(classes)
    arrays.update(contribution_to_arrays(Contribution(
        np.asarray(classes, np.int64), np.asarray(protos, np.float32), np.full(k, float(n) / k))))
    arrays[features_key] = Array(np.asarray(feats, np.float32))
    metrics = MetricRecord({wire.NUM_EXAMPLES: n, wire.REPLY_CLIENT_ID: cid,
                            wire.TASK_ID: task, wire.TRAIN_LOSS: 1.0})
    content = RecordDict({wire.ARRAYS: ArrayRecord(arrays), wire.METRICS: metrics})
    return Message(content=content, dst_node_id=cid, message_type="train")


def test_aggregation_averages_each_task_entry_among_its_clients_and_keeps_the_rest():
    s = strategy()
    replies = [
        reply(0, 1, 3.0, 10, [2], [[1.0, 1.0]], [[1.0, 1.0]]),
        reply(1, 1, 6.0, 20, [2], [[1.0, 1.0]], [[1.0, 1.0]]),
        reply(2, 0, 2.0, 5, [3], [[2.0, 0.0]], [[2.0, 0.0]]),
    ]
    assert all(s.check_reply(r) is None for r in replies)
    arrays, metrics = s.aggregate_train(1, replies)
    groups = split_groups(ArrayRecord({k: arrays[k] for k in arrays.keys() if "/" in k}))
    # task 1: (10 * 3 + 20 * 6) / 30 = 5; task 0: its one client's 2
    np.testing.assert_allclose(groups["task1"]["features.1.lora_A.weight"], 5.0)
    np.testing.assert_allclose(groups["task0"]["features.1.lora_B.weight"], 2.0)
    means, counts = bank_from_arrays(arrays)
    np.testing.assert_allclose(means[0], [9.0, 9.0])  # nobody sent class 0: kept
    np.testing.assert_allclose(means[2], [1.0, 1.0])
    np.testing.assert_allclose(means[3], [2.0, 0.0])
    np.testing.assert_array_equal(counts, [7.0, 0, 30, 5])
    assert metrics[wire.PROTO_BANK_SIZE] == 3


def test_replies_without_features_or_with_other_shapes_are_rejected_naming_client_and_key():
    s = strategy()
    bad = reply(4, 1, 1.0, 10, [2], [[1.0, 1.0]], [[1.0, 1.0]], features_key="proto.other")
    assert s.check_reply(bad) == "client 4: reply lacks key 'arrays.proto.features'"
    short = reply(5, 1, 1.0, 10, [2], [[1.0, 1.0]], [[1.0, 1.0, 1.0]])
    assert "client 5: reply key 'arrays.proto.features': shape (1, 3)" in s.check_reply(short)
    unknown = reply(6, 7, 1.0, 10, [2], [[1.0, 1.0]], [[1.0, 1.0]])
    assert s.check_reply(unknown) == "client 6: task id 7 has no entry in the LoRA bank"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"backbone": {"init": "random"}}, "strategy.backbone.init"),
        ({"adapter": {"kind": "bottleneck"}}, "strategy.adapter.kind"),
        ({"adapter": {"train_head": True}}, "strategy.adapter.train_head"),
        ({"temperature": 0.0}, "strategy.temperature"),
        ({"ortho_weight": -1.0}, "strategy.ortho_weight"),
    ],
)
def test_settings_it_cannot_honour_are_refused_naming_the_key(kwargs, key):
    with pytest.raises(ConfigError) as err:
        PILoRA(**kwargs, **FLOWER_SAMPLING)
    assert err.value.key == key
