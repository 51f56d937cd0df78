"""FedHyper-CL's per-step rule (client plugin) against hand-computed values on 2 parameters."""

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord
from torch import nn

from fedsim import wire
from fedsim.client.plugins.hypergradient import HypergradientLR, hypergradient_plugin
from fedsim.client.training_loop import StepInfo, train_local


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, x):  # pragma: no cover - not used by the hand-computed test
        return x * self.w


def info(epoch: int, step: int) -> StepInfo:
    t = torch.zeros(1)
    return StepInfo(epoch, step, 0.1, t, t, t)


def move(model: Toy, values) -> None:
    with torch.no_grad():
        model.w.copy_(torch.tensor(values, dtype=torch.float32))


def test_client_rule_hand_computed():
    model = Toy()
    plug = HypergradientLR(
        model, 0.1, {"w": np.array([1.0, 0.0])},
        x_scale=0.05, y_scale=1.0, max_growth=1.1, low=0.1, high=10.0,
    )
    assert plug.initial_lr() == pytest.approx(0.1)
    move(model, [0.1, 0.1])  # epoch 0, first batch: not adapted (the code's flag)
    assert plug.next_lr(model, info(0, 0)) is None
    move(model, [0.2, 0.3])  # u=[.1,.2]; x=.05*.1; y=<u, Delta_{t-1}>=.1; gamma=min(1.1,1.105)
    assert plug.next_lr(model, info(0, 1)) == pytest.approx(0.11)
    move(model, [0.2, 0.25])  # u=[0,-.05]; y=<u,[.1,.2]>=-.01; gamma=.99
    assert plug.next_lr(model, info(0, 2)) == pytest.approx(0.1089)
    move(model, [0.3, 0.25])  # epoch 1 first batch: skipped, u_{i-1} pointer kept
    assert plug.next_lr(model, info(1, 3)) is None
    move(model, [0.3, 0.35])  # u=[0,.1]; y=<u,[0,-.05]>=-.005; gamma=.995
    assert plug.next_lr(model, info(1, 4)) == pytest.approx(0.1089 * 0.995)
    move(model, [-29.7, 0.35])  # u=[-30,0]; x=-1.5; gamma=-0.5 (no lower bound) -> beta 0.1
    assert plug.next_lr(model, info(1, 5)) == pytest.approx(0.01)
    assert plug.state_items() == {wire.HYPER_CL_BETA: pytest.approx(0.1)}
    for _ in range(60):  # growth capped at x1.1 per step, beta capped at 10
        model.w.data += torch.tensor([0.0, 1.0])
        plug.next_lr(model, info(1, 6))
        assert plug.beta <= 10.0
    assert plug.beta == pytest.approx(10.0)


def config(persist=True):
    return {
        wire.LR: 0.05,
        wire.HYPER_CL: True,
        wire.HYPER_CL_X_SCALE: 0.02,
        wire.HYPER_CL_Y_SCALE: 1.0,
        wire.HYPER_CL_MAX_GROWTH: 1.1,
        wire.HYPER_CL_BOUNDS: [0.1, 10.0],
        wire.HYPER_CL_PERSIST: persist,
    }


def test_factory_reads_config_state_and_shared_update():
    model = Toy()
    assert hypergradient_plugin(model, {wire.LR: 0.1}, {}, {}) is None
    shared = {wire.LR_ARRAYS: ArrayRecord({"w": Array(np.array([3.0, 4.0], dtype=np.float32))})}
    plug = hypergradient_plugin(model, config(), {wire.HYPER_CL_BETA: 2.0}, shared)
    assert plug.initial_lr() == pytest.approx(0.1)  # persisted beta 2 * lr 0.05
    assert plug.x_scale == 0.02
    assert torch.allclose(plug._global[0], torch.tensor([3.0, 4.0]).double())
    fresh = hypergradient_plugin(model, config(persist=False), {wire.HYPER_CL_BETA: 2.0}, {})
    assert fresh.initial_lr() == pytest.approx(0.05)  # code behaviour: beta reset to 1
    assert torch.count_nonzero(fresh._global[0]) == 0  # no Delta_{t-1}: zeros (round 1)
    bad = {wire.LR_ARRAYS: ArrayRecord({"w": Array(np.zeros(3, dtype=np.float32))})}
    with pytest.raises(ValueError, match="fedsim.lr-arrays.w"):
        hypergradient_plugin(model, config(), {}, bad)


def test_plugin_drives_the_one_local_loop():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = nn.Linear(4, 3)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=64)
    plug = HypergradientLR(model, 0.1, None, x_scale=0.0, y_scale=1.0, max_growth=1.1,
                           low=0.1, high=10.0)
    res = train_local(model, x, y, epochs=2, batch_size=16, lr=plug.initial_lr(),
                      rng=np.random.default_rng(1), plugins=[plug])
    assert plug.adapted_steps == 6  # 2 epochs x (4 batches - the first)
    assert res.final_lr == pytest.approx(0.1 * plug.beta)
    assert res.final_lr != pytest.approx(0.1)
    assert res.metrics[wire.HYPER_CL_BETA] == pytest.approx(plug.beta)
