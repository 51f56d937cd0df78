import numpy as np
import pytest
import torch

from fedsim.client.training_loop import train_local
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


def test_weights_learner_masks_the_active_tasks_head(tmp_path):
    """The client learner passes the task's classes to train_local when plan.task_incremental."""
    from flwr.app import ArrayRecord, ConfigRecord

    from fedsim import wire
    from fedsim.client.learners.weights import WeightsLearner
    from fedsim.client.state import ClientState
    from fedsim.experiment import get_experiment
    from tests.conftest import compose

    def head_change(scenario):
        cfg = compose(f"scenario={scenario}", "scenario.num_clients=2", "scenario.num_tasks=2",
                      "scenario.max_arrival_delay=0", f"output.root={tmp_path}")
        exp = get_experiment(cfg)
        model = exp.make_model()
        config = ConfigRecord({wire.LOCAL_EPOCHS: 1, wire.BATCH_SIZE: 8, wire.LR: 0.1,
                               wire.OPTIMIZER: "sgd", wire.MOMENTUM: 0.0, wire.WEIGHT_DECAY: 0.0})
        reply = WeightsLearner().train(exp, 0, 1, ArrayRecord(model.state_dict()), config,
                                       ClientState())
        after = reply.arrays.to_torch_state_dict()
        key = list(after)[-1]  # the output layer's bias
        task = exp.plan.tasks[exp.plan.streams[0].slots[0].task_id]
        other = [c for c in range(10) if c not in task.classes]
        return (after[key] - model.state_dict()[key]).abs()[other]

    assert torch.all(head_change("task_incremental") == 0)
    assert torch.all(head_change("class_incremental") > 0)
