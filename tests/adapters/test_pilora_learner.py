"""PILoRA's client half: frozen earlier LoRA, the prototype classifier, bytes up (fake grid)."""

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord

from fedsim import wire
from fedsim.adapters.backbone import backbone_state
from fedsim.adapters.bank import task_group
from fedsim.adapters.incremental import earlier_slot, join_payload, split_payload
from fedsim.adapters.model import slot_state
from fedsim.client.learners import pilora as pilora_learner
from fedsim.client.state import ClientState
from fedsim.experiment import get_experiment
from fedsim.server.app import build_strategy
from strategies.pilora import inference_model
from strategies.prototypes import bank_to_arrays
from tests.adapters.conftest import adapter_cfg

LORA_A, LORA_B = "features.1.lora_A.weight", "features.1.lora_B.weight"


@pytest.fixture(scope="module")
def setup():
    cfg = adapter_cfg("pilora")
    exp = get_experiment(cfg)
    strategy = build_strategy(cfg["strategy"])
    return exp, strategy, strategy.initial_arrays(exp)


def round_config(strategy) -> ConfigRecord:
    base = {wire.LOCAL_EPOCHS: 2, wire.BATCH_SIZE: 8, wire.OPTIMIZER: "sgd", wire.MOMENTUM: 0.0,
            wire.WEIGHT_DECAY: 0.0, wire.LR: 0.1}
    return ConfigRecord({**base, **strategy._items()})


def trained(entry, seed):
    """A bank entry as if trained: random B (B = 0 is an untrained LoRA)."""
    rng = np.random.default_rng(seed)
    return {k: (rng.normal(0, 0.3, v.shape).astype(v.dtype) if "lora_B" in k else v)
            for k, v in entry.items()}


def test_earlier_tasks_lora_stay_frozen_while_a_new_task_trains(setup, monkeypatch):
    exp, strategy, arrays = setup
    groups, bank = split_payload(arrays)
    stream = exp.plan.streams[0]
    s, t = stream.slots[0].task_id, stream.slots[1].task_id
    sent = {task_group(t): groups[task_group(t)],
            task_group(s): trained(groups[task_group(s)], 1)}
    built, real = [], pilora_learner.build_classifier

    def spy(*args, **kwargs):  # the real builder; keep the model to look at after training
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(pilora_learner, "build_classifier", spy)
    reply = pilora_learner.PILoRALearner().train(
        exp, 0, stream.slots[1].start_round, join_payload(sent, bank), round_config(strategy),
        ClientState(),
    )
    model = built[0]
    frozen = slot_state(model.net, strategy.layout.spec, earlier_slot(s), None)
    for key, value in sent[task_group(s)].items():
        np.testing.assert_array_equal(frozen[key], value)  # unchanged by local training
    out, _ = split_payload(reply.arrays)
    assert set(out) == {task_group(t)}  # only the current task's LoRA goes up
    assert not np.array_equal(out[task_group(t)][LORA_B], sent[task_group(t)][LORA_B])
    assert reply.metrics[wire.PILORA_ORTHO_TERM] > 0  # A_t is regularised against A_s


def test_the_global_classifier_is_the_nearest_prototype_over_summed_lora(setup):
    exp, strategy, arrays = setup
    groups, _ = split_payload(arrays)
    groups = {g: trained(e, i) for i, (g, e) in enumerate(sorted(groups.items()))}
    rng = np.random.default_rng(3)
    means = rng.normal(0, 1, (10, 128)).astype(np.float32)
    counts = np.array([5.0, 0, 3, 4, 0, 2, 1, 0, 6, 2])  # classes 1, 4, 7 unknown
    payload = join_payload(groups, bank_to_arrays(means, counts))
    model = inference_model(exp, strategy.layout, payload)
    x = exp.data.x_test[:200]
    with torch.no_grad():
        got = model(torch.from_numpy(x)).argmax(1).numpy()
    # second implementation: W_0 + sum_t (alpha/r) B_t A_t on the adapted layer, then argmin
    base = exp.make_model()
    base.load_state_dict(backbone_state(exp, strategy.layout.backbone))
    scale = strategy.layout.spec.alpha / strategy.layout.spec.rank
    with torch.no_grad():
        for entry in groups.values():
            base.features[1].weight += scale * torch.from_numpy(entry[LORA_B] @ entry[LORA_A])
        z = base.embed(torch.from_numpy(x)).numpy().astype(np.float64)
    d = ((z[:, None, :] - means[None].astype(np.float64)) ** 2).sum(-1)
    d[:, counts == 0] = np.inf
    np.testing.assert_array_equal(got, d.argmin(1))
    assert set(got) <= {0, 2, 3, 5, 6, 8, 9}


def test_bytes_up_are_the_lora_entry_plus_prototypes_counts_and_features(tmp_path):
    from tests.fake_grid import run_experiment

    _, summary = run_experiment(
        tmp_path, "strategy=pilora", "scenario.num_clients=3", "scenario.max_arrival_delay=0",
        "strategy.backbone.epochs=3", "train.epochs=1", "num_rounds=2", "log.progress=false",
        num_nodes=2,
    )
    exp = get_experiment(adapter_cfg("pilora", "scenario.num_clients=3",
                                     "scenario.max_arrival_delay=0", "strategy.backbone.epochs=3"))
    strategy = build_strategy(exp.cfg["strategy"])
    groups, _ = split_payload(strategy.initial_arrays(exp))
    for row in summary["history"]:
        want = 0
        for stream in exp.plan.streams:
            slot = stream.slots[stream.slot_at(row["round"])]
            k = len(np.unique(exp.data.y_train[slot.train_idx]))
            entry = {f"{task_group(slot.task_id)}/{n}": Array(v)
                     for n, v in groups[task_group(slot.task_id)].items()}
            protos = {wire.PROTO_CLASSES: Array(np.zeros(k, np.int64)),
                      wire.PROTO_MEANS: Array(np.zeros((k, 128), np.float32)),
                      wire.PROTO_COUNTS: Array(np.zeros(k, np.float64)),
                      wire.PROTO_FEATURES: Array(np.zeros((k, 128), np.float32))}
            want += ArrayRecord({**entry, **protos}).count_bytes()
        assert row["bytes_up"] == want
    assert summary["final_central_acc"] > 0.2


def test_builds_and_trains_with_resnet18_conv_lora(tmp_path):
    from tests.conftest import compose
    from tests.data.writers import cifar_like

    cifar_like(tmp_path, per_batch=10)  # 50 train images: 5 per class
    cfg = compose("strategy=pilora", "data=cifar10", f"data.root={tmp_path}", "model=resnet18",
                  "model.width=1", "strategy.backbone.epochs=1", "scenario.num_clients=2",
                  "scenario.max_arrival_delay=0", "train.epochs=1", "log.progress=false")
    exp = get_experiment(cfg)
    strategy = build_strategy(cfg["strategy"])
    groups, bank = split_payload(strategy.initial_arrays(exp))
    stream = exp.plan.streams[0]
    s, t = stream.slots[0].task_id, stream.slots[1].task_id
    sent = {task_group(t): groups[task_group(t)], task_group(s): trained(groups[task_group(s)], 2)}
    reply = pilora_learner.PILoRALearner().train(
        exp, 0, stream.slots[1].start_round, join_payload(sent, bank), round_config(strategy),
        ClientState(),
    )
    out, protos = split_payload(reply.arrays)
    conv_a = out[task_group(t)]["features.0.lora_A.weight"]
    assert conv_a.shape == (4, 3, 3, 3)  # rank x in-channels x kernel: a Conv2d LoRA
    assert protos[wire.PROTO_FEATURES].numpy().shape[1] == 8  # 8 * width
    assert reply.metrics[wire.PILORA_ORTHO_TERM] > 0
    model = inference_model(exp, strategy.layout, join_payload(sent, bank))
    with torch.no_grad():
        assert model(torch.from_numpy(exp.data.x_test[:4])).shape == (4, 10)
