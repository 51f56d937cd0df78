import numpy as np
import pytest
import torch

from fedsim.learner import train_local
from fedsim.models.mlp import MLP
from scenarios.task_incremental import task_incremental
from tests.scenarios.conftest import assert_disjoint_and_covering, signature


def plan(digits, **kw):
    kw.setdefault("seed", 0)
    return task_incremental(train_labels=digits.y_train, test_labels=digits.y_test, **kw)


def test_task_incremental_flag_and_class_splits(digits):
    p = plan(digits, num_tasks=3, classes_per_task=3, class_order="random", num_clients=4)
    assert p.task_incremental and p.kind == "task_incremental"
    cls = [c for t in p.tasks for c in t.classes]
    assert len(cls) == len(set(cls)) == 9 and all(len(t.classes) == 3 for t in p.tasks)
    assert_disjoint_and_covering(
        p, [np.flatnonzero(np.isin(digits.y_train, t.classes)) for t in p.tasks])
    assert signature(plan(digits, seed=5)) == signature(plan(digits, seed=5))
    assert signature(plan(digits, seed=5)) != signature(plan(digits, seed=6))


@pytest.mark.parametrize("kw, text", [({"blurry": 0.1}, "blurry"),
                                      ({"task_agnostic": True}, "task_agnostic")])
def test_contradictions_raise(digits, kw, text):
    with pytest.raises(ValueError, match=text):
        plan(digits, **kw)


def test_train_local_class_mask_trains_only_the_task_head(digits):
    idx = np.flatnonzero(np.isin(digits.y_train, (2, 3)))
    x, y = digits.x_train[idx], digits.y_train[idx]

    def run(mask):
        torch.manual_seed(0)
        model = MLP((1, 8, 8), 10, hidden=(16,))
        before = model.head.bias.detach().clone() if hasattr(model, "head") else None
        last = list(model.parameters())[-1]
        before = last.detach().clone()
        res = train_local(model, x, y, epochs=2, batch_size=16, lr=0.1,
                          rng=np.random.default_rng(0), class_mask=mask)
        return (last.detach() - before).abs(), res

    masked, res = run([2, 3])
    assert np.isfinite(res.loss)
    others = [c for c in range(10) if c not in (2, 3)]
    assert torch.all(masked[others] == 0), "masked heads must receive no gradient"
    assert torch.all(masked[[2, 3]] > 0)
    unmasked, _ = run(None)
    assert torch.all(unmasked[others] > 0)
