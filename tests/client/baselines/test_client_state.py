"""The baselines in the real weights learner: task ends, client state, budget, determinism."""

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord

from fedsim import wire
from fedsim.client.learners import get_learner
from fedsim.client.plugins.baselines import ANCHOR, FISHER, INDEX, TASK, TEACHER
from fedsim.client.plugins.ewc import empirical_fisher
from fedsim.client.plugins.loop_assembly import assemble_loop
from fedsim.client.state import ClientState
from fedsim.errors import ConfigError
from fedsim.experiment import get_experiment
from fedsim.server.app import build_strategy
from fedsim.server.client_metrics import baseline_values, peak_memory
from fedsim.server.round_record import Attempt, RoundRecord, TrainResult
from scenarios.curricula.curriculum import Curriculum
from tests.conftest import SMALL, compose
from tests.server.replies import make_reply

BASE = {"local-epochs": 1, "batch-size": 8, "optimizer": "sgd", "momentum": 0.0,
        "weight-decay": 0.0, wire.LR: 0.05}  # fmt: skip
LWF = {wire.LWF_LAMBDA: 1.0, wire.LWF_TEMPERATURE: 2.0}
EWC = {wire.EWC_LAMBDA: 100.0, wire.EWC_GAMMA: 1.0, wire.EWC_SAMPLES: 0}


def replay(selection: str, budget: int = 10) -> dict:
    return {wire.REPLAY_BUDGET: budget, wire.REPLAY_SELECTION: selection}


@pytest.fixture(scope="module")
def exp():
    return get_experiment(compose(*SMALL, "scenario.num_tasks=3"))


def fresh(exp, seed: int) -> ArrayRecord:
    torch.manual_seed(seed)
    return ArrayRecord(exp.make_model().state_dict())


def live(exp, items: dict, cid: int = 0, state: ClientState | None = None, slots: int = 99):
    """Train client ``cid`` once per slot (the first ``slots``), each on a fresh 'global' model."""
    state, out = state or ClientState(), []
    for pos, slot in enumerate(exp.plan.streams[cid].slots[:slots]):
        rnd = slot.start_round
        received = fresh(exp, 100 + pos)
        cfg = ConfigRecord({**BASE, **items, wire.SERVER_ROUND: rnd})
        reply = get_learner("weights").train(exp, cid, rnd, received, cfg, state)
        state = ClientState(config=dict(reply.state.config), arrays=reply.state.arrays)
        out.append((received, reply, state))
    return out


def prefixed(state: ClientState, prefix: str) -> dict[str, np.ndarray]:
    arrays = state.arrays or ArrayRecord()
    return {k[len(prefix):]: arrays[k].numpy() for k in arrays if k.startswith(prefix)}


def test_lwf_teacher_is_the_model_received_when_the_task_changed(exp):
    steps = live(exp, LWF)
    first, second = steps[0][1], steps[1][1]
    assert first.metrics[wire.LWF_KD] == 0.0 and first.metrics[wire.MEMORY_OLD_MODEL] == 0.0
    assert second.metrics[wire.LWF_KD] > 0.0
    teacher = prefixed(steps[1][2], TEACHER)
    received = steps[1][0]
    assert set(teacher) == set(received.keys())
    for k, v in teacher.items():
        np.testing.assert_array_equal(v, received[k].numpy())
    assert second.metrics[wire.MEMORY_OLD_MODEL] == sum(a.numpy().nbytes for a in received.values())


def test_ewc_fisher_is_estimated_on_the_ended_task_with_the_received_model(exp):
    steps = live(exp, EWC)
    assert steps[0][1].metrics[wire.EWC_PENALTY] == 0.0
    assert steps[1][1].metrics[wire.EWC_PENALTY] > 0.0
    received, state = steps[1][0], steps[1][2]
    model = exp.make_model()
    model.load_state_dict(received.to_torch_state_dict())
    ended = exp.plan.streams[0].slots[0]
    x, y = exp.data.x_train[ended.train_idx], exp.data.y_train[ended.train_idx]
    expected = empirical_fisher(model, x, y, transform=exp.transform_for(ended.task_id))
    fisher, anchor = prefixed(state, FISHER), prefixed(state, ANCHOR)
    for name, value in expected.items():
        np.testing.assert_allclose(fisher[name], value.numpy(), rtol=1e-5, atol=1e-9)
        np.testing.assert_array_equal(anchor[name], received[name].numpy())
    size = sum(v.nbytes for v in fisher.values()) + sum(v.nbytes for v in anchor.values())
    assert steps[1][1].metrics[wire.MEMORY_FISHER] == size
    # the next task end adds the second task's Fisher (gamma = 1)
    assert all(prefixed(steps[2][2], FISHER)[k].sum() >= fisher[k].sum() for k in fisher)


@pytest.mark.parametrize("selection", ["reservoir", "herding"])
def test_replay_memory_holds_earlier_tasks_within_budget(exp, selection):
    stream = exp.plan.streams[0]
    for budget in (0, 7, 1000):
        steps = live(exp, replay(selection, budget))
        for pos, (_, reply, state) in enumerate(steps):
            index, task = state.config[INDEX], state.config[TASK]
            assert len(index) <= budget
            earlier = {int(i) for s in stream.slots[:pos] for i in s.train_idx}
            assert set(index) <= earlier
            labels = exp.data.y_train[index]
            for i, t, c in zip(index, task, labels, strict=True):
                assert int(c) in exp.plan.tasks[t].classes and i in set(
                    stream.slots[[s.task_id for s in stream.slots].index(t)].train_idx.tolist()
                )
            per_example = exp.data.x_train[0].nbytes + exp.data.y_train[0].nbytes
            assert reply.metrics[wire.MEMORY_BUFFER] == len(index) * per_example
        final = steps[-1][2].config[INDEX]
        if 0 < budget < 1000:
            assert len(final) > 0
            assert reply.metrics[wire.REPLAY_LOSS] > 0
        if selection == "herding" and 0 < budget < 1000:
            groups = {}
            for i, t in zip(final, steps[-1][2].config[TASK], strict=True):
                key = (t, int(exp.data.y_train[i]))
                groups[key] = groups.get(key, 0) + 1
            assert max(groups.values()) - min(groups.values()) <= 1  # class-balanced
            assert len(groups) == sum(
                len(exp.plan.tasks[s.task_id].classes) for s in stream.slots[:-1]
            )


@pytest.mark.parametrize("items", [LWF, EWC, replay("reservoir"), replay("herding")])
def test_same_seed_same_numbers(exp, items):
    a, b = live(exp, items), live(exp, items)
    for (_, ra, sa), (_, rb, sb) in zip(a, b, strict=True):
        assert ra.metrics == rb.metrics
        assert sa.config == sb.config
        for k in sa.arrays or []:
            np.testing.assert_array_equal(sa.arrays[k].numpy(), sb.arrays[k].numpy())
        for k in ra.arrays:
            np.testing.assert_array_equal(ra.arrays[k].numpy(), rb.arrays[k].numpy())


def test_local_scoring_keeps_the_model_beside_the_baselines_tensors(exp):
    items = {**EWC, **Curriculum(data={"ordering": "curriculum", "scoring": "local"})
             .client_config()}
    steps = live(exp, items)
    keys = list(steps[1][2].arrays.keys())
    assert any(k.startswith(FISHER) for k in keys)
    model_keys = [k for k in keys if "/" not in k]
    assert model_keys == list(exp.make_model().state_dict().keys())
    slot = exp.plan.streams[0].slots[2]
    cfg = ConfigRecord({**BASE, **items, wire.SERVER_ROUND: slot.start_round})
    loop = assemble_loop(exp, 0, slot.start_round, cfg, steps[1][2], exp.make_model())
    assert loop.curriculum is not None


def test_without_baseline_items_nothing_changes(exp):
    steps = live(exp, {})
    assert all(wire.MEMORY_FISHER not in r.metrics for _, r, _ in steps)
    assert all(s.arrays is None and "fcl.position" not in s.config for *_, s in steps)


@pytest.mark.parametrize(
    "override, key",
    [
        (["strategy=fedlwf", "strategy.lwf_lambda=-1"], "strategy.lwf_lambda"),
        (["strategy=fedlwf", "strategy.temperature=0"], "strategy.temperature"),
        (["strategy=fedewc", "strategy.ewc_lambda=-1"], "strategy.ewc_lambda"),
        (["strategy=fedewc", "strategy.gamma=-1"], "strategy.gamma"),
        (["strategy=fedewc", "strategy.fisher_samples=-3"], "strategy.fisher_samples"),
        (["strategy=replay", "strategy.budget=-1"], "strategy.budget"),
        (["strategy=replay", "strategy.budget=2.5"], "strategy.budget"),
        (["strategy=replay", "strategy.selection=fifo"], "strategy.selection"),
    ],
)
def test_bad_options_are_refused_in_one_line_naming_the_key(override, key):
    cfg = compose(*SMALL, *override)
    with pytest.raises(ConfigError) as err:
        build_strategy(cfg["strategy"])
    assert err.value.key == key and "\n" not in str(err.value)
    assert str(err.value).startswith(f"{key}: ")


@pytest.mark.parametrize("name", ["fedlwf", "fedewc", "replay"])
def test_default_configs_build(name):
    assert build_strategy(compose(*SMALL, f"strategy={name}")["strategy"]) is not None


def test_memory_metrics_are_aggregated_per_round_and_peaked_over_the_run():
    replies = [
        make_reply(None, {wire.NUM_EXAMPLES: 1, wire.MEMORY_BUFFER: 100.0, wire.REPLAY_SIZE: 4}),
        make_reply(None, {wire.NUM_EXAMPLES: 1, wire.MEMORY_BUFFER: 300.0, wire.REPLAY_SIZE: 12}),
        make_reply(None, {wire.NUM_EXAMPLES: 1}),
    ]
    values = baseline_values(replies)
    assert values == {
        f"{wire.MEMORY_BUFFER}/mean": 200.0, f"{wire.MEMORY_BUFFER}/max": 300.0,
        f"{wire.REPLAY_SIZE}/mean": 8.0, f"{wire.REPLAY_SIZE}/max": 12.0,
    }  # fmt: skip
    def record(rnd, baselines):
        result = None if baselines is None else TrainResult(0.0, [], [], {}, baselines)
        return RoundRecord(round=rnd, train=Attempt(cohort=[]), result=result)

    history = [record(1, values), record(2, {f"{wire.MEMORY_BUFFER}/max": 250.0}),
               record(3, None)]  # fmt: skip
    assert peak_memory(history) == {wire.MEMORY_BUFFER: 300.0, "total": 300.0}
    assert baseline_values([make_reply(None)]) == {} and peak_memory([record(1, None)]) == {}
    assert RoundRecord.from_dict(history[0].to_dict()) == history[0]  # checkpoint round trip


@pytest.mark.parametrize("scenario", ["task_incremental", "rotated_digits"])
def test_every_baseline_acts_under_task_heads_and_domain_transforms(scenario):
    exp = get_experiment(compose(f"scenario={scenario}", "scenario.num_clients=12",
                                 "train.epochs=1", "log.progress=false"))
    for items, key in ((LWF, wire.LWF_KD), (EWC, wire.EWC_PENALTY),
                       (replay("reservoir"), wire.REPLAY_LOSS),
                       (replay("herding"), wire.REPLAY_LOSS)):
        steps = live(exp, items, slots=3)
        assert steps[0][1].metrics[key] == 0.0
        assert all(np.isfinite(r.metrics[key]) and r.metrics[key] > 0 for _, r, _ in steps[1:])
