"""The per-process experiment cache never hands one run's config to another run."""

from __future__ import annotations

from fedsim.experiment import _CACHE, _CACHE_SIZE, get_experiment
from tests.conftest import compose


def test_two_configs_sharing_data_and_plan_keep_their_own_settings(tmp_path):
    a = compose("train.lr=0.05", "strategy=fedavg", f"output.root={tmp_path}")
    b = compose("train.lr=0.2", "strategy=fedprox", "num_rounds=3", f"output.root={tmp_path}")
    exp_a, exp_b = get_experiment(a), get_experiment(b)
    assert exp_a.cfg["train"]["lr"] == 0.05 and exp_b.cfg["train"]["lr"] == 0.2
    assert exp_b.cfg["strategy"]["name"] == "fedprox" and exp_b.num_rounds == 3
    assert exp_a.num_rounds == exp_a.plan.num_rounds != 3
    assert exp_a.data is exp_b.data and exp_a.plan is exp_b.plan  # built once, shared
    assert get_experiment(a) is exp_a  # the same config is served from the cache


def test_a_different_seed_builds_its_own_plan(tmp_path):
    a = compose("seed=0", f"output.root={tmp_path}")
    b = compose("seed=1", f"output.root={tmp_path}")
    assert get_experiment(a).plan is not get_experiment(b).plan


def test_the_cache_is_bounded(tmp_path):
    for i in range(_CACHE_SIZE + 3):
        get_experiment(compose(f"train.lr={0.01 * (i + 1):.2f}", f"output.root={tmp_path}"))
    assert len(_CACHE) <= _CACHE_SIZE
