"""The baselines' maths against hand-computed values: EWC, KD, herding, reservoir, replay loss."""

import math
from itertools import product

import numpy as np
import pytest
import torch
from torch import nn

from fedsim.client.plugins.distillation import LwFDistillation, kd_loss
from fedsim.client.plugins.ewc import EWCPenalty, consolidate, empirical_fisher, ewc_penalty
from fedsim.client.plugins.replay import (
    ExperienceReplay,
    herding_order,
    herding_update,
    reservoir_update,
)
from fedsim.client.training_loop import StepInfo


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def step(inputs, logits) -> StepInfo:
    return StepInfo(0, 0, 0.1, inputs, torch.zeros(len(inputs), dtype=torch.long), logits)


# --- EWC ---------------------------------------------------------------------------------
def test_ewc_penalty_with_a_known_fisher():
    params = {"w": t([1.0, 2.0]), "b": t([0.5])}
    anchor = {"w": t([0.0, 1.0]), "b": t([1.0])}
    fisher = {"w": t([2.0, 3.0]), "b": t([4.0])}
    # lambda/2 * (2*1^2 + 3*1^2 + 4*0.5^2) = 5 * 6
    assert float(ewc_penalty(params, anchor, fisher, 10.0)) == pytest.approx(30.0)
    assert float(ewc_penalty(params, anchor, fisher, 0.0)) == 0.0


def test_ewc_plugin_gradient_is_lambda_f_times_distance():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    plugin = EWCPenalty({"weight": torch.tensor([[2.0, 3.0]])},
                        {"weight": torch.tensor([[0.0, 1.0]])}, lam=10.0)
    loss = plugin.extra_loss(model, step(torch.zeros(1, 2), torch.zeros(1, 1)))
    loss.backward()
    assert float(loss.detach()) == pytest.approx(25.0)  # 5 * (2 + 3)
    assert model.weight.grad.tolist() == [[20.0, 30.0]]
    assert plugin.metrics() == {"ewc-penalty": pytest.approx(25.0)}


def test_empirical_fisher_of_softmax_regression_matches_the_formula():
    # d log p(y|x) / dW = (e_y - p) x^T and / db = e_y - p; F = mean of the squares
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    x = np.array([[1.0, 0.0], [0.5, -1.0], [2.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    y = np.array([0, 2, 1, 1])
    fisher = empirical_fisher(model, x, y, chunk=3)
    w, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    err = np.eye(3)[y] - p
    expected_w = np.mean([np.outer(e, xi) ** 2 for e, xi in zip(err, x, strict=True)], axis=0)
    np.testing.assert_allclose(fisher["weight"].numpy(), expected_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fisher["bias"].numpy(), (err**2).mean(0), rtol=1e-5, atol=1e-7)


def test_empirical_fisher_with_a_class_mask_ignores_other_logits():
    model = nn.Linear(2, 4)
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    fisher = empirical_fisher(model, x, np.array([1]), class_mask=[0, 1])
    assert fisher["bias"][2:].abs().sum() == 0.0  # masked classes get no gradient
    assert fisher["bias"][:2].abs().sum() > 0.0


def test_online_fisher_decays_the_old_one():
    old, new = {"w": t([2.0, 4.0])}, {"w": t([1.0, 1.0])}
    assert consolidate(old, new, 0.5)["w"].tolist() == [2.0, 3.0]
    assert consolidate(None, new, 0.5)["w"].tolist() == [1.0, 1.0]


# --- distillation ------------------------------------------------------------------------
def kd_by_hand(student: list[float], teacher: list[float], temp: float) -> float:
    soft = [math.exp(v / temp) for v in teacher]
    soft = [v / sum(soft) for v in soft]
    log_z = math.log(sum(math.exp(v / temp) for v in student))
    return -sum(p * (s / temp - log_z) for p, s in zip(soft, student, strict=True))


def test_kd_loss_at_a_known_temperature():
    s, te = [1.0, 2.0, 3.0], [3.0, 1.0, 0.0]
    got = kd_loss(t([s, te]), t([te, te]), temperature=2.0)
    expected = (kd_by_hand(s, te, 2.0) + kd_by_hand(te, te, 2.0)) / 2
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(kd_loss(t([s]), t([te]), 1.0)) == pytest.approx(kd_by_hand(s, te, 1.0))


def test_lwf_plugin_weights_each_group_and_ignores_new_classes():
    teacher = nn.Linear(2, 4)
    inputs = torch.tensor([[1.0, -1.0]])
    student = torch.tensor([[0.5, 1.0, 9.0, -9.0]])
    plugin = LwFDistillation(teacher, lam=3.0, temperature=2.0, groups=[[0, 1]])
    got = plugin.extra_loss(nn.Identity(), step(inputs, student))
    tl = teacher(inputs)[0].tolist()
    assert float(got) == pytest.approx(3.0 * kd_by_hand([0.5, 1.0], tl[:2], 2.0), rel=1e-6)
    assert not any(p.requires_grad for p in teacher.parameters())


# --- herding -----------------------------------------------------------------------------
# unit vectors at 0, 10, 20 and 90 degrees; mu = (0.731, 0.379)
TOY = np.array([[np.cos(a), np.sin(a)] for a in np.radians([0.0, 10.0, 20.0, 90.0])])


def test_herding_on_a_toy_2d_set():
    # k=1: ||mu - phi||: 0.465, 0.326, 0.212, 0.959 -> row 2
    # k=2: ||mu - (phi_2 + phi)/2||: row 0 0.317, row 1 0.261, row 3 0.392 -> row 1
    # k=3: ||mu - (phi_2 + phi_1 + phi)/3||: row 0 0.320, row 3 0.154 -> row 3 (the far point
    #      pulls the running mean back; ranking by distance to mu would take row 0)
    assert herding_order(TOY, 4) == [2, 1, 3, 0]
    scaled = TOY * np.array([[5.0], [1.0], [2.0], [0.5]])  # features are L2-normalised first
    assert herding_order(scaled, 4) == [2, 1, 3, 0]
    assert herding_order(TOY, 2) == [2, 1]  # a smaller budget is a prefix (ReduceExemplarSet)
    assert herding_order(TOY, 10) == [2, 1, 3, 0]


def test_class_balanced_memory_never_exceeds_its_budget():
    kept = {(0, 0): [1, 2, 3, 4, 5], (0, 1): [6, 7, 8, 9, 10]}
    new = {(1, 2): [11, 12, 13, 14, 15]}
    out = herding_update(kept, new, 7)  # 7 = 3 groups x 2 + 1: the first group keeps 3
    assert out == {(0, 0): [1, 2, 3], (0, 1): [6, 7], (1, 2): [11, 12]}
    assert herding_update(kept, new, 6) == {(0, 0): [1, 2], (0, 1): [6, 7], (1, 2): [11, 12]}
    assert herding_update({}, {}, 7) == {}
    assert herding_update(kept, new, 2) == {(0, 0): [1], (0, 1): [6]}  # fewer slots than groups
    assert herding_update(kept, new, 0) == {}
    assert herding_update(kept, {(0, 1): [20]}, 4) == {(0, 0): [1, 2], (0, 1): [20]}  # recurs
    for budget in range(20):
        assert sum(map(len, herding_update(kept, new, budget).values())) == min(budget, 15)


# --- reservoir ---------------------------------------------------------------------------
class Scripted:
    """A generator whose ``integers`` returns scripted values (every path of Algorithm R)."""

    def __init__(self, values):
        self.values = list(values)

    def integers(self, low, high):
        value = self.values.pop(0)
        assert low <= value < high
        return value


def test_reservoir_keeps_every_item_with_probability_k_over_n_exactly():
    # K = 2, 4 items: item 2 draws j in {0,1,2}, item 3 draws j in {0..3}: 12 equal paths.
    counts = dict.fromkeys("abcd", 0)
    for j2, j3 in product(range(3), range(4)):
        memory, seen = reservoir_update([], 0, list("abcd"), 2, Scripted([j2, j3]))
        assert len(memory) == 2 and seen == 4
        for item in memory:
            counts[item] += 1
    assert counts == dict.fromkeys("abcd", 6)  # 6 / 12 = K / n for every item


def test_reservoir_is_uniform_over_a_long_stream_and_resumable():
    rng = np.random.default_rng(0)
    hits = np.zeros(50)
    for _ in range(2000):
        memory, _ = reservoir_update([], 0, range(50), 10, rng)
        assert len(memory) == 10
        hits[memory] += 1
    freq = hits / 2000  # each ~ Binomial(2000, 0.2) / 2000, sd 0.009
    assert np.all(np.abs(freq - 0.2) < 0.045)
    one, _ = reservoir_update([], 0, range(30), 5, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    part, seen = reservoir_update([], 0, range(12), 5, rng)
    two, seen = reservoir_update(part, seen, range(12, 30), 5, rng)
    assert one == two and seen == 30


# --- replay loss -------------------------------------------------------------------------
def test_replay_loss_is_the_cross_entropy_of_a_memory_batch():
    x = np.arange(12, dtype=np.float32).reshape(6, 2) / 10
    y = np.array([0, 1, 2, 0, 1, 2])
    model = nn.Linear(2, 3)
    index, task = [1, 3, 4, 5], [0, 0, 1, 1]
    shift = {0: None, 1: lambda v: v + 1.0}
    plugin = ExperienceReplay(x, y, index, task, 3, shift.get, np.random.default_rng(7))
    loss = plugin.extra_loss(model, step(torch.zeros(1, 2), torch.zeros(1, 3)))
    pick = np.random.default_rng(7).choice(4, size=3, replace=False)
    rows = [index[p] for p in pick]
    inputs = torch.from_numpy(x[rows]) + torch.tensor([[float(task[p])] for p in pick])
    expected = nn.functional.cross_entropy(model(inputs), torch.from_numpy(y[rows]))
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    empty = ExperienceReplay(x, y, [], [], 8, shift.get, np.random.default_rng(0))
    assert empty.extra_loss(model, step(torch.zeros(1, 2), torch.zeros(1, 3))) is None
