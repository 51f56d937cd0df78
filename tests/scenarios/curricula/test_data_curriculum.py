"""The data-level curriculum plugin: orders from hand-computed scores, pacing, determinism."""

import numpy as np
import pytest
import torch
from flwr.app import ConfigRecord

from fedsim import wire
from fedsim.client.plugins.data_curriculum import (
    DataCurriculum,
    curriculum_from_config,
    example_losses,
)
from fedsim.client.training_loop import train_local
from scenarios.curricula import curriculum as curriculum_module
from scenarios.curricula.curriculum import Curriculum

SCORES = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2])  # ascending order: 1, 5, 3, 0, 4, 2


def plugin(ordering, pacing="step", a=1.0, b=0.5, epochs=1, batch=2, **kw):
    return DataCurriculum(
        SCORES,
        ordering=ordering,
        pacing=pacing,
        a=a,
        b=b,
        batch_size=batch,
        epochs=epochs,
        rng=np.random.default_rng(0),
        min_pool=kw.pop("min_pool", 1),
        **kw,
    )


@pytest.mark.parametrize("ordering, pool", [("curriculum", {1, 5, 3}), ("anti", {2, 4, 0})])
def test_step_pacing_trains_on_the_easiest_or_hardest_half(ordering, pool):
    # N = 6, B = 2, E = 1: T = (6 // 2 + 1) * 1 = 4 steps; step pacing a=1, b=0.5 keeps the pool
    # at bN = 3 until step aT = 4, i.e. the whole round. Passes of 3 take ceil(3/2) = 2 steps,
    # so the round makes 2 passes over the same 3 examples.
    p = plugin(ordering)
    order = p.order(6, 0, np.random.default_rng(1))
    assert len(order) == 6 and set(order.tolist()) == pool
    assert sorted(order[:3].tolist()) == sorted(pool)
    assert p.metrics() == {wire.CURRICULUM_POOL: 0.5}


def test_linear_pool_grows_pass_by_pass():
    # N = 6, B = 2, E = 2: T = 8; linear a=0.5, b=1/3: g(t) = 2 + 4 t / 4 = 2 + t
    # passes: t=0 pool 2 (1 step) -> t=1 pool 3 (2 steps) -> t=3 pool 5 (3 steps) -> t=6 pool 6
    # (3 steps) -> t=9 >= T, stop. Epoch 0 gets the passes starting before 4, epoch 1 the rest.
    p = plugin("curriculum", pacing="linear", a=0.5, b=1 / 3, epochs=2)
    first = p.order(6, 0, np.random.default_rng(1))
    second = p.order(6, 1, np.random.default_rng(2))
    assert p.pool_sizes == [2, 3, 5, 6]
    assert sorted(first[:2].tolist()) == [1, 5]
    assert sorted(first[2:5].tolist()) == [1, 3, 5]
    assert sorted(first[5:].tolist()) == [0, 1, 3, 4, 5]
    assert sorted(second.tolist()) == list(range(6))
    assert p.step == 9


def test_min_pool_is_a_hard_floor():
    p = plugin("curriculum", min_pool=4)
    assert set(p.order(6, 0, np.random.default_rng(0)).tolist()) == {1, 5, 3, 0}


def test_random_ordering_uses_the_generator():
    a = plugin("random").order(6, 0, np.random.default_rng(5))
    b = plugin("random").order(6, 0, np.random.default_rng(5))
    assert a.tolist() == b.tolist()


def test_cyclical_sizes_per_epoch_and_weighting():
    # cycle (0.5, 1.0, 0.5) over E = 3 epochs: fractions 0.5, 1.0, 0.5 of N = 6
    p = plugin("curriculum", pacing="cyclical", epochs=3, cycle=(0.5, 1.0, 0.5))
    sizes = [len(p.order(6, e, np.random.default_rng(e))) for e in range(3)]
    assert sizes == [3, 6, 3]
    # with 1/loss weights the easiest example (score 0.1) is drawn far more often than the
    # hardest (0.9) over many draws
    counts = np.zeros(6)
    for s in range(300):
        q = plugin("curriculum", pacing="cyclical", epochs=1, cycle=(0.2, 1.0, 0.5))
        counts[q.order(6, 0, np.random.default_rng(s))] += 1
    assert counts[1] > 2 * counts[2]


def test_plugin_in_the_real_loop_and_config_path():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1, 2, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=40).astype(np.int64)
    items = Curriculum(data={"ordering": "curriculum", "min_pool": 8}).client_config()
    hp = {"epochs": 2, "batch_size": 4, "lr": 0.1}
    p = curriculum_from_config(
        ConfigRecord(items),
        received=model,
        x=x,
        y=y,
        transform=None,
        hp=hp,
        local_state=None,
        make_model=None,
        rng=np.random.default_rng(0),
    )
    assert p.scored_by_received
    np.testing.assert_allclose(p.scores, example_losses(model, x, y), rtol=1e-6)
    # the first pass is the bN = 8 lowest-loss examples (b = 0.2 of 40)
    first = p.order(40, 0, np.random.default_rng(0))[:8]
    assert set(first.tolist()) == set(np.argsort(p.scores, kind="stable")[:8].tolist())
    result = train_local(model, x, y, rng=np.random.default_rng(0), plugins=[p], **hp)
    assert 0.2 < result.metrics[wire.CURRICULUM_POOL] < 1.0
    none = curriculum_from_config(
        ConfigRecord({}),
        received=model,
        x=x,
        y=y,
        transform=None,
        hp=hp,
        local_state=None,
        make_model=None,
        rng=rng,
    )
    assert none is None


def test_scenario_keys_mirror_the_wire_constants():
    keys = curriculum_module._KEYS
    assert keys["ordering"] == wire.CURRICULUM_ORDER
    assert keys["scoring"] == wire.CURRICULUM_SCORING
    assert keys["pacing"] == wire.CURRICULUM_PACING
    assert keys["a"] == wire.CURRICULUM_A and keys["b"] == wire.CURRICULUM_B
    assert keys["min_pool"] == wire.CURRICULUM_MIN_POOL
    assert keys["cycle"] == wire.CURRICULUM_CYCLE
    assert keys["expert_epochs"] == wire.CURRICULUM_EXPERT_EPOCHS


@pytest.mark.parametrize("scoring", ["local", "expert"])
def test_local_and_expert_scorers_differ_from_the_received_model(scoring):
    torch.manual_seed(0)
    make = lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))  # noqa: E731
    received = make()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 1, 2, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=30).astype(np.int64)
    other = make()
    items = Curriculum(data={"ordering": "curriculum", "scoring": scoring, "expert_epochs": 3})
    p = curriculum_from_config(
        ConfigRecord(items.client_config()),
        received=received,
        x=x,
        y=y,
        transform=None,
        hp={"epochs": 1, "batch_size": 5, "lr": 0.5},
        local_state=other.state_dict() if scoring == "local" else None,
        make_model=make,
        rng=np.random.default_rng(0),
    )
    assert not p.scored_by_received
    assert not np.allclose(p.scores, example_losses(received, x, y))
    if scoring == "local":
        np.testing.assert_allclose(p.scores, example_losses(other, x, y), rtol=1e-6)
    else:  # an expert trained on the data fits it better than an untrained model
        assert p.scores.mean() < example_losses(make(), x, y).mean()
