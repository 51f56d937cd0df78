import numpy as np
import pytest

from scenarios.domain_incremental import domain_incremental
from tests.scenarios.conftest import assert_disjoint_and_covering, signature


def plan(digits, **kw):
    kw.setdefault("seed", 0)
    return domain_incremental(train_labels=digits.y_train, test_labels=digits.y_test, **kw)


def test_every_task_holds_every_class_under_its_own_domain(digits):
    p = plan(digits, num_tasks=4, num_clients=5)
    assert [t.domain for t in p.tasks] == ["identity", "rot:45", "rot:90", "rot:135"]
    assert not p.task_incremental and p.kind == "domain_incremental"
    for t in p.tasks:
        assert t.classes == tuple(range(10))
        assert np.array_equal(t.test_idx, np.arange(len(digits.y_test)))
    # the whole train split, split disjointly among clients, once per task
    for t in p.tasks:
        got = np.concatenate([s.train_idx for st in p.streams for s in st.slots
                              if s.task_id == t.task_id])
        assert np.array_equal(np.sort(got), np.arange(len(digits.y_train)))


def test_disjoint_data_gives_each_task_its_own_stratified_slice(digits):
    p = plan(digits, num_tasks=3, num_clients=4, disjoint_data=True)
    assert_disjoint_and_covering(p, [np.arange(len(digits.y_train))])
    for t in p.tasks:
        idx = np.concatenate([s.train_idx for st in p.streams for s in st.slots
                              if s.task_id == t.task_id])
        counts = np.bincount(digits.y_train[idx], minlength=10)
        assert counts.min() >= np.bincount(digits.y_train).min() // 3 - 1


@pytest.mark.parametrize(
    "kw, domains",
    [
        ({"shift": "noise", "noise_step": 0.5, "num_tasks": 3},
         ["identity", "noise:0.5", "noise:1"]),
        ({"shift": "shift", "shift_scale": 2, "num_tasks": 3},
         ["identity", "shift:2:1", "shift:2:2"]),
        ({"shift": "list", "domains": ["rot:90", "perm:3+noise:0.1"], "num_tasks": 2},
         ["rot:90", "perm:3+noise:0.1"]),
    ],
)
def test_domain_families(digits, kw, domains):
    assert [t.domain for t in plan(digits, num_clients=3, **kw).tasks] == domains


def test_permutations_are_seeded(digits):
    a = [t.domain for t in plan(digits, shift="permutation", num_tasks=3).tasks]
    b = [t.domain for t in plan(digits, shift="permutation", num_tasks=3).tasks]
    c = [t.domain for t in plan(digits, shift="permutation", num_tasks=3, seed=1).tasks]
    assert a == b and a != c and a[0] == "identity" and a[1].startswith("perm:")


def test_num_classes_and_determinism(digits):
    p = plan(digits, num_classes=4, num_clients=3)
    assert all(t.classes == (0, 1, 2, 3) for t in p.tasks)
    assert set(digits.y_test[p.tasks[0].test_idx].tolist()) == {0, 1, 2, 3}
    assert signature(plan(digits, seed=2)) == signature(plan(digits, seed=2))
    assert signature(plan(digits, seed=2)) != signature(plan(digits, seed=3))


@pytest.mark.parametrize(
    "kw, text",
    [
        ({"shift": "blur"}, "shift must be one of"),
        ({"shift": "list"}, "needs a non-empty 'domains'"),
        ({"shift": "list", "domains": ["rot:90"], "num_tasks": 2}, "set num_tasks=1"),
        ({"domains": ["rot:90"]}, "only used with shift=list"),
        ({"shift": "list", "domains": ["spin:3"], "num_tasks": 1}, "unknown kind 'spin'"),
        ({"shift": "list", "domains": ["rot:90", "rot:90"], "num_tasks": 2}, "distinct"),
        ({"rotation_step": 0}, "distinct"),
        ({"num_classes": 11}, "num_classes must be in"),
        ({"blurry": 0.1}, "blurry > 0 is for class-incremental"),
        ({"num_tasks": 0}, "num_tasks must be >= 1"),
    ],
)
def test_invalid_combinations_raise(digits, kw, text):
    with pytest.raises(ValueError, match=text):
        plan(digits, **kw)


def test_transform_that_does_not_fit_the_data_fails_before_the_run(tmp_path):
    from fedsim.errors import ConfigError
    from fedsim.experiment import get_experiment
    from tests.conftest import compose

    cfg = compose("data=synthetic", "data.input_shape=[32]", "scenario=domain_incremental",
                  "scenario.num_clients=2", f"output.root={tmp_path}")
    with pytest.raises(ConfigError, match=r"^scenario: domain 'rot:45': rotation needs image"):
        get_experiment(cfg)
    ok = compose("data=synthetic", "data.input_shape=[32]", "scenario=domain_incremental",
                 "scenario.shift=shift", "scenario.num_clients=2", f"output.root={tmp_path}")
    exp = get_experiment(ok)
    assert [t.domain for t in exp.plan.tasks][1] == "shift:1:1"
    x = exp.data.x_test[:4]
    import torch
    moved = exp.transform_for(1)(torch.from_numpy(x))
    assert moved.shape == (4, 32) and not torch.allclose(moved, torch.from_numpy(x))
