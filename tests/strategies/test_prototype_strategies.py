"""FederatedReconnaissance and FedProto on hand-made replies, and the prototype learner."""

import json

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

from fedsim import wire
from fedsim.client.learners.prototypes import PrototypeLearner
from fedsim.client.plugins.prototype_loss import PrototypeLoss
from fedsim.client.state import ClientState
from fedsim.experiment import get_experiment
from fedsim.models.prototype_head import class_means
from fedsim.server.app import FLOWER_SAMPLING
from strategies.fedproto import FedProto
from strategies.fedrecon import FederatedReconnaissance
from strategies.prototypes import Contribution, bank_from_arrays, contribution_to_arrays
from tests.conftest import SMALL, compose

D = 128  # embedding dim of the default MLP (hidden [128])


@pytest.fixture(autouse=True)
def _task_identity(monkeypatch):
    """Flower messages need a run id; the ServerApp runtime sets it, a unit test must."""
    from flwr.supercore.task_identity import TaskIdentity

    for attr in ("_run_id", "_task_id", "_node_id"):
        monkeypatch.setattr(TaskIdentity, attr, 1)


@pytest.fixture(scope="module")
def exp():
    return get_experiment(compose(*SMALL))


class CohortGrid:
    """The part of fedsim's VirtualGrid a strategy uses: the cohort's client ids."""

    def __init__(self, ids):
        self.ids = list(ids)

    def get_node_ids(self):
        return list(self.ids)


def reply(cid, classes, means, counts, weights=None, n=10):
    arrays = dict(weights.items()) if weights is not None else {}
    c = Contribution(
        np.asarray(classes, np.int64), np.asarray(means, np.float32), np.asarray(counts)
    )
    arrays.update(contribution_to_arrays(c))
    metrics = MetricRecord({wire.NUM_EXAMPLES: n, wire.REPLY_CLIENT_ID: cid, wire.TRAIN_LOSS: 1.0})
    content = RecordDict({wire.ARRAYS: ArrayRecord(arrays), wire.METRICS: metrics})
    return Message(content=content, dst_node_id=cid, message_type="train")


def proto(value, d=D):
    return np.full(d, float(value), np.float32)


def test_fedrecon_merge_hand_computed_with_a_class_the_server_never_saw(exp):
    s = FederatedReconnaissance(base_rounds=0, **FLOWER_SAMPLING)
    arrays = s.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))
    means, counts = bank_from_arrays(arrays)
    assert means.shape == (10, D) and not counts.any()
    msgs = list(s.configure_train(1, arrays, ConfigRecord({}), CohortGrid([0, 1])))
    assert msgs and msgs[0].content[wire.CONFIG][wire.PROTO_SEND] == "once-per-slot"
    r1 = [reply(0, [0, 1], [proto(1), proto(2)], [4, 2]), reply(1, [1], [proto(5)], [6])]
    assert all(s.check_reply(r) is None for r in r1)
    arrays, metrics = s.aggregate_train(1, r1)
    means, counts = bank_from_arrays(arrays)
    np.testing.assert_allclose(means[0], proto(1))
    np.testing.assert_allclose(means[1], proto((2 * 2 + 6 * 5) / 8))
    assert metrics["proto-bank-size"] == 2
    # round 2: client 2 brings class 7, which nobody has contributed before
    s.configure_train(2, arrays, ConfigRecord({}), CohortGrid([1, 2]))
    arrays, _ = s.aggregate_train(2, [reply(2, [1, 7], [proto(0), proto(9)], [8, 3])])
    means, counts = bank_from_arrays(arrays)
    np.testing.assert_allclose(means[7], proto(9))
    np.testing.assert_allclose(means[1], proto((8 * 4.25 + 8 * 0) / 16))
    np.testing.assert_allclose(counts, [4, 16, 0, 0, 0, 0, 0, 3, 0, 0])
    weights = {k: arrays[k].numpy() for k in arrays.keys() if not k.startswith("proto.")}
    start = exp.make_model().state_dict()
    assert all(np.array_equal(weights[k], start[k].numpy()) for k in start)  # frozen


def test_wrong_embedding_dimension_is_rejected_naming_the_client(exp):
    s = FederatedReconnaissance(base_rounds=0, **FLOWER_SAMPLING)
    arrays = s.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))
    s.configure_train(1, arrays, ConfigRecord({}), CohortGrid([3]))
    bad = reply(3, [2], [np.zeros(32, np.float32)], [5])
    assert s.check_reply(bad) == (
        f"client 3: reply key 'arrays.proto.means': embedding dim 32, expected {D}"
    )
    p = FedProto(**FLOWER_SAMPLING)
    p.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))
    assert "client 3:" in p.check_reply(bad) and "embedding dim 32" in p.check_reply(bad)


def test_fedrecon_base_phase_averages_weights_and_leaves_the_bank(exp):
    s = FederatedReconnaissance(base_rounds=2, **FLOWER_SAMPLING)
    arrays = s.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))
    s.configure_train(1, arrays, ConfigRecord({}), CohortGrid([0, 1]))
    keys = [k for k in arrays.keys() if not k.startswith("proto.")]
    w0 = ArrayRecord({k: Array(np.zeros(arrays[k].shape, np.float32)) for k in keys})
    w1 = ArrayRecord({k: Array(np.ones(arrays[k].shape, np.float32)) for k in keys})
    empty = (np.zeros(0, np.int64), np.zeros((0, D), np.float32), np.zeros(0))
    replies = [reply(0, *empty, weights=w0, n=1), reply(1, *empty, weights=w1, n=3)]
    assert s.check_reply(replies[0]) is None
    no_weights = reply(2, *empty)
    assert "lacks key 'arrays." in s.check_reply(no_weights)
    new, _ = s.aggregate_train(1, replies)
    np.testing.assert_allclose(new[keys[0]].numpy(), 0.75)
    assert not bank_from_arrays(new)[1].any()


def test_fedproto_keeps_unseen_classes_and_rejects_weights(exp):
    s = FedProto(weighted=True, **FLOWER_SAMPLING)
    arrays = s.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))
    assert set(arrays.keys()) == {wire.PROTO_MEANS, wire.PROTO_COUNTS}  # no global model
    s.configure_train(1, arrays, ConfigRecord({}), CohortGrid([0, 1]))
    arrays, _ = s.aggregate_train(
        1, [reply(0, [0, 1], [proto(1), proto(2)], [1, 3]), reply(1, [1], [proto(6)], [1])]
    )
    s.configure_train(2, arrays, ConfigRecord({}), CohortGrid([1]))
    arrays, _ = s.aggregate_train(2, [reply(1, [1], [proto(0)], [2])])
    means, counts = bank_from_arrays(arrays)
    np.testing.assert_allclose(means[0], proto(1))  # not contributed in round 2: kept
    np.testing.assert_allclose(means[1], proto(0))  # round 2's clients only
    np.testing.assert_allclose(counts[:2], [1, 2])
    weights = ArrayRecord({"head.bias": Array(np.zeros(10, np.float32))})
    leaky = reply(4, [1], [proto(1)], [1], weights=weights)
    assert (
        s.check_reply(leaky)
        == "client 4: reply key 'arrays.head.bias' is not allowed (prototypes only)"
    )
    assert np.isnan(s.central_accuracies(exp, arrays)).all()


def test_fedproto_rejects_client_model_of_another_embedding_dim(exp):
    from fedsim.errors import ConfigError

    s = FedProto(client_models=[{"hidden": [64]}, {"hidden": [256, 128]}], **FLOWER_SAMPLING)
    with pytest.raises(ConfigError, match=r"strategy.client_models\[0\].*embedding dim 64"):
        s.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))


def learner_config(**items):
    base = {
        wire.LOCAL_EPOCHS: 1,
        wire.BATCH_SIZE: 8,
        wire.OPTIMIZER: "sgd",
        wire.MOMENTUM: 0.0,
        wire.WEIGHT_DECAY: 0.0,
        wire.LR: 0.05,
    }
    return ConfigRecord({**base, **items})


def test_learner_contributes_each_slot_once_with_exact_class_means(exp):
    from strategies.prototypes import empty_bank, with_bank

    learner = PrototypeLearner()
    model = exp.make_model()
    arrays = with_bank(ArrayRecord(model.state_dict()), *empty_bank(10, D))
    cfg = learner_config(**{wire.PROTO_TRAIN: False, wire.PROTO_SEND: "once-per-slot"})
    stream = exp.plan.streams[0]
    rnd = stream.slots[0].start_round
    out = learner.train(exp, 0, rnd, arrays, cfg, ClientState())
    slot = stream.slots[0]
    classes, means, counts = class_means(
        model, exp.data.x_train[slot.train_idx], exp.data.y_train[slot.train_idx]
    )
    np.testing.assert_array_equal(out.arrays[wire.PROTO_CLASSES].numpy(), classes)
    np.testing.assert_allclose(out.arrays[wire.PROTO_MEANS].numpy(), means, rtol=1e-5)
    assert set(classes) == set(exp.plan.tasks[slot.task_id].classes)
    assert out.arrays[wire.PROTO_COUNTS].numpy().sum() == len(slot.train_idx)
    again = learner.train(exp, 0, rnd, arrays, cfg, out.state)
    assert again.arrays[wire.PROTO_CLASSES].numpy().shape == (0,)


def test_learner_personal_models_differ_by_client_and_never_travel(exp):
    from strategies.prototypes import bank_to_arrays, empty_bank

    learner = PrototypeLearner()
    models = json.dumps([{"hidden": [128]}, {"hidden": [256, 128]}])
    cfg = learner_config(
        **{wire.PROTO_MODEL: "personal", wire.PROTO_LAMBDA: 1.0, wire.PROTO_MODELS: models}
    )
    arrays = bank_to_arrays(*empty_bank(10, D))
    shapes = {}
    for cid in (0, 1):
        rnd = exp.plan.streams[cid].slots[0].start_round
        out = learner.train(exp, cid, rnd, arrays, cfg, ClientState())
        assert set(out.arrays.keys()) == {wire.PROTO_CLASSES, wire.PROTO_MEANS, wire.PROTO_COUNTS}
        assert out.arrays[wire.PROTO_MEANS].numpy().shape[1] == D
        shapes[cid] = len(out.state.arrays.keys())
    assert shapes[0] != shapes[1]  # one vs two hidden layers


def test_prototype_loss_is_per_sample_mse_and_zero_for_unknown_classes():
    import torch

    from fedsim.client.training_loop import StepInfo

    class Emb(torch.nn.Module):
        def embed(self, x):
            return x

    means = np.array([[1.0, 1.0], [0.0, 0.0], [5.0, 5.0]], np.float32)
    plugin = PrototypeLoss(means, np.array([1, 1, 0]), lam=2.0)
    x = torch.tensor([[3.0, 1.0], [0.0, 2.0], [7.0, 7.0]])
    y = torch.tensor([0, 1, 2])
    info = StepInfo(0, 0, 0.1, x, y, torch.zeros(3, 3))
    value = plugin.extra_loss(Emb(), info)
    # squared errors: sample 0: 4 + 0, sample 1: 0 + 4, sample 2 (class 2 unknown): 0
    assert float(value) == pytest.approx(2.0 * 8.0 / 6.0)
