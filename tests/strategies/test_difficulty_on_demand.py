"""The curriculum ``difficulty`` forward pass runs only when something consumes it."""

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord

from fedsim import wire
from fedsim.client.learners import get_learner
from fedsim.client.state import ClientState
from fedsim.experiment import get_experiment
from fedsim.server.app import train_config
from scenarios.curricula.curriculum import Curriculum
from strategies.client_curriculum import ClientCurriculum
from strategies.selection import UniformSelection
from tests.conftest import SMALL, compose


@pytest.fixture(scope="module")
def exp():
    return get_experiment(compose(*SMALL))


def train(exp, items: dict, counter: list[int] | None = None):
    """Train client 0 in its first round with the weights learner.

    ``counter`` gets one entry per forward of every model the learner builds: 0 in training
    mode, 1 in eval mode (the scoring pass).
    """
    cfg = ConfigRecord({**train_config(exp.cfg), wire.LR: 0.05, wire.LOCAL_EPOCHS: 1, **items})
    arrays = ArrayRecord(exp.make_model().state_dict())
    original = exp.make_model
    if counter is not None:
        def make_model(spec=None):
            model = original(spec)
            model.register_forward_pre_hook(
                lambda m, a: counter.append(0 if m.training else 1)
            )
            return model
        object.__setattr__(exp, "make_model", make_model)
    try:
        rnd = exp.plan.streams[0].slots[0].start_round
        return get_learner("weights").train(exp, 0, rnd, arrays, cfg, ClientState())
    finally:
        if counter is not None:
            object.__delattr__(exp, "make_model")


def test_no_consumer_no_eval_forward_and_no_metric(exp):
    calls: list[int] = []
    out = train(exp, {}, calls)
    assert wire.DIFFICULTY not in out.metrics
    assert sum(calls) == 0  # no forward pass in eval mode (the scoring pass) at all
    assert len(calls) > 0  # the training forwards were counted


def test_asked_by_the_server_scores_once_and_trains_identically(exp):
    calls: list[int] = []
    asked = train(exp, {wire.REPORT_DIFFICULTY: True}, calls)
    plain = train(exp, {})
    assert asked.metrics[wire.DIFFICULTY] > 0
    assert sum(calls) >= 1  # the scoring pass ran (eval mode)
    assert asked.metrics[wire.TRAIN_LOSS] == plain.metrics[wire.TRAIN_LOSS]
    for k in plain.arrays.keys():
        assert np.array_equal(asked.arrays[k].numpy(), plain.arrays[k].numpy())


def test_a_data_curriculum_reports_it_for_free(exp):
    items = Curriculum(data={"ordering": "curriculum"}).client_config()
    out = train(exp, items)
    assert out.metrics[wire.DIFFICULTY] > 0  # reused scores of the received model


def test_the_server_asks_only_for_a_selection_that_ranks_by_difficulty(exp):
    assert wire.REPORT_DIFFICULTY not in train_config(exp.cfg)
    assert wire.REPORT_DIFFICULTY not in train_config(exp.cfg, UniformSelection())
    assert train_config(exp.cfg, ClientCurriculum())[wire.REPORT_DIFFICULTY] is True
    other = ClientCurriculum(signal=wire.TRAIN_LOSS)
    assert wire.REPORT_DIFFICULTY not in train_config(exp.cfg, other)
