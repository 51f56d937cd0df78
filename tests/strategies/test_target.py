"""TARGET's server half: inversion losses against the paper's definitions, boundaries, refusals."""

import math

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord
from torch import nn

from fedsim.errors import ConfigError
from fedsim.experiment import get_experiment
from fedsim.server.app import build_strategy
from strategies.target import Target, boundary_rounds, old_classes
from strategies.target_synthesis import (
    BNStatistics,
    SynthesisSettings,
    adversarial_kl,
    inversion_ce,
    student_kd,
    synthesize,
)
from tests.conftest import SMALL, compose

TINY = SynthesisSettings(rounds=2, batch=8, steps=2, warmup=1, student_steps=2, nz=4, width=2)


def softmax(v: list[float], temp: float = 1.0) -> list[float]:
    e = [math.exp(x / temp) for x in v]
    return [x / sum(e) for x in e]


# --- the inversion losses, each against a second implementation from its definition --------
def test_bn_statistics_loss_is_the_l2_distance_of_batch_and_running_statistics():
    bn = nn.BatchNorm2d(2).eval()
    bn.running_mean = torch.tensor([0.5, -1.0])
    bn.running_var = torch.tensor([2.0, 0.25])
    x = torch.arange(2 * 2 * 3 * 1, dtype=torch.float32).reshape(2, 2, 3, 1) / 7.0
    with BNStatistics(bn) as hooks:
        bn(x)
        got = float(hooks.pop())
    means, variances = [], []
    for c in range(2):
        values = [float(v) for v in x[:, c].flatten()]
        mu = sum(values) / len(values)
        means.append(mu)
        variances.append(sum((v - mu) ** 2 for v in values) / len(values))  # biased
    d_mean = math.sqrt((means[0] - 0.5) ** 2 + (means[1] + 1.0) ** 2)
    d_var = math.sqrt((variances[0] - 2.0) ** 2 + (variances[1] - 0.25) ** 2)
    assert got == pytest.approx(d_mean + d_var, rel=1e-5)


def test_bn_statistics_sum_over_layers_and_zero_without_batchnorm():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 4), nn.BatchNorm1d(4))
    model.eval()
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    with BNStatistics(model) as hooks:
        model(x)
        both = float(hooks.pop().detach())
    h = model[0](x)
    first = (h.mean(0) - model[1].running_mean).norm() + (
        h.var(0, unbiased=False) - model[1].running_var
    ).norm()
    h2 = model[2](model[1](h))
    second = (h2.mean(0) - model[3].running_mean).norm() + (
        h2.var(0, unbiased=False) - model[3].running_var
    ).norm()
    assert both == pytest.approx(float(first + second), rel=1e-5)
    with BNStatistics(nn.Linear(3, 2)) as none:
        nn.Linear(3, 2)(x)
        assert float(none.pop()) == 0.0


def test_inversion_ce_is_the_teachers_cross_entropy_on_the_drawn_labels():
    logits = [[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]]
    got = float(inversion_ce(torch.tensor(logits), torch.tensor([0, 1])))
    expected = -(math.log(softmax(logits[0])[0]) + math.log(softmax(logits[1])[1])) / 2
    assert got == pytest.approx(expected, rel=1e-6)


def test_adversarial_kl_counts_only_samples_the_student_still_agrees_on():
    teacher = [[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]]
    student = [[1.0, 0.5, 0.0], [2.0, 0.0, 0.0]]  # agrees on sample 0 only
    got = float(adversarial_kl(torch.tensor(student), torch.tensor(teacher)))
    p, q = softmax(teacher[0]), softmax(student[0])
    kl0 = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    assert got == pytest.approx(-kl0 / 2, rel=1e-6)


def test_student_kd_is_the_tempered_kl_times_tau_squared():
    teacher, student, tau = [[3.0, 1.0, 0.0]], [[0.0, 1.0, 2.0]], 4.0
    p, q = softmax(teacher[0], tau), softmax(student[0], tau)
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    got = float(student_kd(torch.tensor(student), torch.tensor(teacher), tau))
    assert got == pytest.approx(kl * tau**2, rel=1e-6)


def test_synthesis_is_seeded_in_range_and_moves_the_teacher_to_the_drawn_labels():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    student = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    shape = (1, 4, 4)

    def run(seed: int, **kw) -> torch.Tensor:
        s = SynthesisSettings(**{**TINY.__dict__, **kw})
        stu = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
        stu.load_state_dict(student.state_dict())
        return synthesize(teacher, stu, [1, 3], shape, s, torch.Generator().manual_seed(seed))

    a, b = run(0), run(0)
    assert a.shape == (16, 1, 4, 4) and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert not torch.equal(a, run(1))
    # many CE steps: the teacher assigns the inverted inputs to the old classes {1, 3}
    long = run(0, rounds=1, batch=16, steps=25, adv=0.0, lr_g=0.05, lr_z=0.2, oh=1.0)
    picked = teacher(long).argmax(1)
    assert set(picked.tolist()) <= {1, 3}


# --- boundaries and what the server sends ---------------------------------------------------
@pytest.fixture(scope="module")
def exp():
    return get_experiment(compose(*SMALL, "scenario.num_tasks=3"))


def test_boundaries_are_task_changes_at_least_min_gap_apart(exp):
    plan = exp.plan
    changes = sorted({s.start_round for st in plan.streams for s in st.slots[1:]})
    assert boundary_rounds(plan, 1) == changes
    gap2 = boundary_rounds(plan, 2)
    assert gap2[0] == changes[0] and all(b - a >= 2 for a, b in zip(gap2, gap2[1:], strict=False))
    r = changes[0]
    expected = {c for st in plan.streams for s in st.slots if s.start_round < r
                for c in plan.tasks[s.task_id].classes}  # fmt: skip
    assert old_classes(plan, r) == sorted(expected)


def test_state_dict_round_trip_restores_the_synthetic_set(exp):
    strategy = build_strategy(compose(*SMALL, "strategy=target")["strategy"])
    strategy.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))
    strategy._synthesise(3, ArrayRecord(exp.make_model().state_dict()))
    fresh = build_strategy(compose(*SMALL, "strategy=target")["strategy"])
    fresh.load_state_dict(strategy.state_dict())
    np.testing.assert_array_equal(fresh.synthetic, strategy.synthetic)
    assert fresh.classes == strategy.classes and fresh.made_at == 3
    assert set(fresh.teacher) == set(exp.make_model().state_dict())


# --- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("strategy.kd_weight=-1", "strategy.kd_weight"),
        ("strategy.temperature=0", "strategy.temperature"),
        ("strategy.syn_batch=1", "strategy.syn_batch"),
        ("strategy.min_gap=0", "strategy.min_gap"),
        ("strategy.g_steps=2.5", "strategy.g_steps"),
    ],
)
def test_bad_options_are_refused_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        build_strategy(compose(*SMALL, "strategy=target", override)["strategy"])
    assert err.value.key == key


def test_bn_weight_without_batchnorm_is_refused_and_null_drops_the_term(exp):
    from fedsim.config.validate import validate

    cfg = compose(*SMALL, "strategy=target", "strategy.bn_weight=10")
    with pytest.raises(ConfigError, match="has none") as err:
        validate(cfg)
    assert err.value.key == "strategy.bn_weight"
    strategy = Target()  # bn_weight null: 0 for the MLP
    strategy.initial_arrays(exp, ArrayRecord(exp.make_model().state_dict()))
    assert strategy.settings.bn == 0.0


def test_task_incremental_scenarios_are_refused():
    from fedsim.config.validate import validate

    cfg = compose(*SMALL, "strategy=target", "scenario=task_incremental")
    with pytest.raises(ConfigError, match="task-incremental") as err:
        validate(cfg)
    assert err.value.key == "scenario"
