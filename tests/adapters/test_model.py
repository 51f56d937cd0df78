"""Adapted models: frozen backbone, zero-initialised adapters, slot keys, backbone sources."""

import numpy as np
import pytest
import torch

from fedsim.adapters.backbone import backbone_state
from fedsim.adapters.bank import bank_entry, weighted_group_means
from fedsim.adapters.layout import AdapterLayout
from fedsim.adapters.model import parameter_counts
from fedsim.adapters.scoring import routed_logits
from fedsim.client.training_loop import train_local
from fedsim.errors import ConfigError
from fedsim.experiment import get_experiment
from fedsim.seeding import rng_for
from tests.adapters.conftest import adapter_cfg


@pytest.mark.parametrize("strategy", ["adapter_avg", "adapter_bottleneck", "adapter_split"])
def test_frozen_backbone_unchanged_and_adapters_trained(strategy):
    cfg = adapter_cfg(strategy)
    exp = get_experiment(cfg)
    layout = AdapterLayout.from_config(cfg["strategy"])
    model = layout.make_model(exp)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    x0 = torch.from_numpy(exp.data.x_test[:32])
    with torch.no_grad():
        plain = exp.make_model()
        plain.load_state_dict(backbone_state(exp, layout.backbone))
        # zero-initialised up-projections / LoRA B: an untrained adapter is the identity
        assert torch.allclose(model(x0), plain(x0), atol=1e-6)
    slot = exp.plan.streams[0].slots[0]
    train_local(
        model,
        exp.data.x_train[slot.train_idx],
        exp.data.y_train[slot.train_idx],
        epochs=3,
        batch_size=8,
        lr=0.1,
        rng=rng_for(0, "test"),
    )
    frozen = [k for k, p in model.named_parameters() if not p.requires_grad]
    trained = [k for k, p in model.named_parameters() if p.requires_grad]
    assert frozen and trained
    for k in frozen:
        assert torch.equal(before[k], model.get_parameter(k)), k
    assert any(not torch.equal(before[k], model.get_parameter(k)) for k in trained)
    assert all(("lora_" in k or ".adapters." in k or k.startswith("head.")) for k in trained)
    n_train, n_total = parameter_counts(model)
    assert 0 < n_train < 0.5 * n_total


def test_export_and_load_round_trip_between_models():
    cfg = adapter_cfg("adapter_split")
    exp = get_experiment(cfg)
    layout = AdapterLayout.from_config(cfg["strategy"])
    a, b = layout.make_model(exp), layout.make_model(exp, init_tag=9)
    with torch.no_grad():
        for p in a.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p))
    groups = layout.export(a, task_id=3)
    assert set(groups) == {"shared", "task3"}
    assert all(".shared." not in k and ".task." not in k for g in groups.values() for k in g)
    assert any(k.startswith("head.") for k in groups["task3"])  # heads are task-specific
    layout.load(b, groups, 3)
    x = torch.from_numpy(exp.data.x_test[:16])
    with torch.no_grad():
        assert torch.allclose(a(x), b(x))


def test_checkpoint_backbone_and_missing_file(tmp_path):
    cfg = adapter_cfg("adapter_avg")
    exp = get_experiment(cfg)
    model = exp.make_model()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.25)
    path = tmp_path / "backbone.pt"
    torch.save(model.state_dict(), path)
    state = backbone_state(exp, {"init": "checkpoint", "path": str(path)})
    assert all(torch.all(v == 0.25) for v in state.values())
    with pytest.raises(ConfigError, match=r"strategy.backbone.path.*does not exist"):
        backbone_state(exp, {"init": "checkpoint", "path": str(tmp_path / "nope.pt")})
    torch.save({"other": torch.zeros(2)}, tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match="does not fit the model"):
        backbone_state(exp, {"init": "checkpoint", "path": str(tmp_path / "bad.pt")})


def test_base_task_backbone_is_deterministic_and_trained():
    import fedsim.adapters.backbone as bb

    cfg = adapter_cfg("adapter_avg")
    exp = get_experiment(cfg)
    settings = {"init": "base_task", "base_task": 0, "epochs": 3}
    first = backbone_state(exp, settings)
    bb._CACHE.clear()
    again = backbone_state(exp, settings)
    assert all(torch.equal(first[k], again[k]) for k in first)
    rand = backbone_state(exp, {"init": "random"})
    assert any(not torch.equal(first[k], rand[k]) for k in first)


@pytest.mark.parametrize(
    "override, key",
    [
        ("strategy.adapter.rank=0", "strategy.adapter.rank"),
        ("strategy.adapter.kind=prefix", "strategy.adapter.kind"),
        ("strategy.backbone.init=imagenet", "strategy.backbone.init"),
        ("strategy.routing=oracle", "strategy.routing"),
    ],
)
def test_bad_adapter_settings_name_the_key(override, key):
    cfg = adapter_cfg("adapter_split", override)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        AdapterLayout.from_config(cfg["strategy"])


def test_weighted_group_means_against_hand_computed():
    a = {"shared": {"w": np.array([1.0, 2.0], dtype=np.float32)}, "task0": {"w": np.ones(2)}}
    b = {"shared": {"w": np.array([3.0, 6.0], dtype=np.float32)}, "task1": {"w": np.zeros(2)}}
    c = {"shared": {"w": np.array([5.0, 0.0], dtype=np.float32)}, "task0": {"w": np.full(2, 4.0)}}
    means, usage = weighted_group_means([(a, 1.0), (b, 3.0), (c, 4.0)])
    np.testing.assert_allclose(means["shared"]["w"], [(1 + 9 + 20) / 8, (2 + 18 + 0) / 8])
    assert means["shared"]["w"].dtype == np.float32
    np.testing.assert_allclose(means["task0"]["w"], [(1 + 16) / 5] * 2)  # only a and c
    np.testing.assert_allclose(means["task1"]["w"], [0.0, 0.0])
    assert usage == {"shared": 3, "task0": 2, "task1": 1}


def test_bank_lookup_of_unknown_task_is_a_clear_error():
    groups = {"shared": {}, "task0": {}, "task2": {}}
    assert bank_entry(groups, 2) is groups["task2"]
    with pytest.raises(KeyError, match=r"no entry for task id 5 \(known task ids: 0, 2\)"):
        bank_entry(groups, 5)


def test_entropy_routing_picks_the_most_confident_adapter():
    confident_wrong = torch.tensor([[10.0, 0.0, 0.0], [0.3, 0.2, 0.1]])
    unsure_right = torch.tensor([[0.1, 0.2, 0.3], [0.0, 0.0, 10.0]])
    chosen = routed_logits([confident_wrong, unsure_right])
    assert chosen.argmax(-1).tolist() == [0, 2]
    masked = routed_logits([confident_wrong, unsure_right], class_mask=[1, 2])
    assert masked.argmax(-1).tolist()[1] == 2
