"""Adapter strategies in process: message content, aggregation, reply checks, personal state."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

from fedsim import wire
from fedsim.adapters.bank import join_groups, split_groups
from fedsim.client.learners import get_learner
from fedsim.client.state import ClientState
from fedsim.experiment import get_experiment
from fedsim.server.app import build_strategy, train_config
from tests.adapters.conftest import _flower_identity, adapter_cfg  # noqa: F401


class Cohort:
    """The part of a Grid that strategies use to pick clients."""

    def __init__(self, ids):
        self.ids = list(ids)

    def get_node_ids(self):
        return list(self.ids)


def setup(strategy, *extra):
    cfg = adapter_cfg(strategy, *extra)
    exp = get_experiment(cfg)
    strat = build_strategy(cfg["strategy"])
    arrays = strat.initial_arrays(exp)
    config = ConfigRecord({**train_config(cfg), wire.LR: 0.1})
    return cfg, exp, strat, arrays, config


def train_round(exp, strat, arrays, config, rnd=1, states=None):
    cohort = exp.plan.active_clients(rnd)
    messages = list(strat.configure_train(rnd, arrays, config, Cohort(cohort)))
    learner = get_learner("adapters")
    replies, new_states = [], {}
    for msg in messages:
        cid = int(msg.metadata.dst_node_id)
        state = (states or {}).get(cid, ClientState())
        payload, cfg = msg.content[wire.ARRAYS], msg.content[wire.CONFIG]
        out = learner.train(exp, cid, rnd, payload, cfg, state)
        content = RecordDict({wire.ARRAYS: out.arrays, wire.METRICS: MetricRecord(out.metrics)})
        replies.append(Message(content=content, dst_node_id=0, message_type="train"))
        new_states[cid] = out.state
    return messages, replies, new_states


def reply_of(client_id, task_id, groups, n=10):
    metrics = MetricRecord(
        {wire.NUM_EXAMPLES: n, wire.REPLY_CLIENT_ID: client_id, wire.TASK_ID: task_id}
    )
    content = RecordDict({wire.ARRAYS: join_groups(groups), wire.METRICS: metrics})
    return Message(content=content, dst_node_id=0, message_type="train")


def test_adapter_avg_messages_carry_only_adapters():
    _, exp, strat, arrays, config = setup("adapter_avg")
    messages, replies, _ = train_round(exp, strat, arrays, config)
    backbone_keys = set(exp.make_model().state_dict()) - {"head.weight", "head.bias"}
    full_bytes = ArrayRecord(exp.make_model().state_dict()).count_bytes()
    for msg in [*messages, *replies]:
        keys = list(msg.content[wire.ARRAYS].keys())
        assert keys and all(k.startswith("shared/") for k in keys)
        stripped = {k.split("/", 1)[1] for k in keys}
        assert not stripped & backbone_keys, "a frozen backbone tensor travelled"
        assert all("lora_A" in k or "lora_B" in k or k.startswith("head.") for k in stripped)
        assert msg.content[wire.ARRAYS].count_bytes() < 0.5 * full_bytes
    strat.reference_arrays(arrays)
    assert all(strat.check_reply(r) is None for r in replies)


def test_adapter_avg_aggregates_weighted_means_by_hand():
    _, exp, strat, arrays, config = setup("adapter_avg")
    _, replies, _ = train_round(exp, strat, arrays, config)
    new, _ = strat.aggregate_train(1, replies)
    weights = [float(r.content[wire.METRICS][wire.NUM_EXAMPLES]) for r in replies]
    for key in arrays.keys():
        stack = np.stack([r.content[wire.ARRAYS][key].numpy() for r in replies])
        expected = np.tensordot(weights, stack, axes=1) / sum(weights)
        np.testing.assert_allclose(new[key].numpy(), expected, rtol=1e-5, atol=1e-7)


def test_bank_sends_each_client_only_its_task_entry_and_averages_per_task():
    _, exp, strat, arrays, config = setup("adapter_bank")
    messages, replies, _ = train_round(exp, strat, arrays, config)
    bank = split_groups(arrays)
    assert set(bank) == {f"task{t.task_id}" for t in exp.plan.tasks}
    tasks_of = {}
    for msg, reply in zip(messages, replies, strict=True):
        cid = int(msg.metadata.dst_node_id)
        task = exp.plan.streams[cid].slots[exp.plan.streams[cid].slot_at(1)].task_id
        tasks_of[cid] = task
        assert set(split_groups(msg.content[wire.ARRAYS])) == {f"task{task}"}
        assert set(split_groups(reply.content[wire.ARRAYS])) == {f"task{task}"}
    strat.reference_arrays(arrays)
    assert all(strat.check_reply(r) is None for r in replies)
    new, _ = strat.aggregate_train(1, replies)
    merged = split_groups(new)
    for t in range(len(exp.plan.tasks)):
        group = f"task{t}"
        mine = [r for r in replies if int(r.content[wire.METRICS][wire.TASK_ID]) == t]
        for key, value in merged[group].items():
            if not mine:  # nobody trained task t: the entry is unchanged
                np.testing.assert_array_equal(value, bank[group][key])
                continue
            w = [float(r.content[wire.METRICS][wire.NUM_EXAMPLES]) for r in mine]
            stack = [split_groups(r.content[wire.ARRAYS])[group][key] for r in mine]
            expected = np.tensordot(w, np.stack(stack), axes=1) / sum(w)
            np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-7)
    assert strat.stats.usage == {
        t: sum(1 for v in tasks_of.values() if v == t) for t in set(tasks_of.values())
    }


def test_mismatched_rank_and_shape_name_the_client_and_key():
    _, exp, strat, arrays, _ = setup("adapter_avg")
    strat.reference_arrays(arrays)
    groups = split_groups(arrays)
    good = reply_of(3, 0, groups)
    assert strat.check_reply(good) is None
    key = next(k for k in groups["shared"] if "lora_A" in k)
    bad = {"shared": {**groups["shared"], key: np.zeros((8, groups["shared"][key].shape[1]))}}
    reason = strat.check_reply(reply_of(3, 0, bad))
    assert reason.startswith("client 3:") and key in reason and "rank 8" in reason
    head = {"shared": {**groups["shared"], "head.bias": np.zeros(3, dtype=np.float32)}}
    reason = strat.check_reply(reply_of(5, 0, head))
    assert reason.startswith("client 5:") and "head.bias" in reason
    missing = {"shared": {k: v for k, v in groups["shared"].items() if k != key}}
    assert f"'shared/{key}' is missing" in strat.check_reply(reply_of(2, 0, missing))


def test_bank_rejects_unknown_task_and_wrong_group():
    _, exp, strat, arrays, _ = setup("adapter_bank")
    strat.reference_arrays(arrays)
    groups = split_groups(arrays)
    reason = strat.check_reply(reply_of(4, 9, {"task9": groups["task0"]}))
    assert reason == (
        "client 4: task id 9 has no entry in the adapter bank (known task ids: 0, 1, 2, 3, 4)"
    )
    reason = strat.check_reply(reply_of(1, 2, {"task0": groups["task0"]}))
    assert reason.startswith("client 1:") and "task0" in reason


def test_personal_task_adapters_never_leave_the_client():
    _, exp, strat, arrays, config = setup("adapter_personal")
    assert set(split_groups(arrays)) == {"shared"}
    messages, replies, states = train_round(exp, strat, arrays, config)
    for reply in replies:
        assert set(split_groups(reply.content[wire.ARRAYS])) == {"shared"}
    for cid, state in states.items():
        stream = exp.plan.streams[cid]
        task = stream.slots[stream.slot_at(1)].task_id
        assert set(split_groups(state.arrays)) == {f"task{task}"}
    # the next round starts from the personal adapter kept in the state
    _, _, states2 = train_round(exp, strat, arrays, config, rnd=2, states=states)
    cid = sorted(states2)[0]
    before = split_groups(states[cid].arrays)
    after = split_groups(states2[cid].arrays)
    g = next(iter(before))
    assert any(not np.array_equal(before[g][k], after[g][k]) for k in before[g])


def test_bank_central_accuracy_uses_routing_and_client_eval_reports_slots():
    _, exp, strat, arrays, config = setup("adapter_bank", "strategy.routing=task_id")
    acc0 = strat.central_accuracies(exp, arrays)
    assert acc0.shape == (len(exp.plan.tasks),)
    _, replies, _ = train_round(exp, strat, arrays, config)
    strat.reference_arrays(arrays)
    new, _ = strat.aggregate_train(1, replies)
    acc1 = strat.central_accuracies(exp, new)
    trained = set(strat.stats.usage)
    assert all(acc0[t] == 0.0 for t in trained - {0})  # new classes: the backbone head fails
    assert all(acc1[t] > 0.3 for t in trained), (acc1, trained)  # one round of a task entry
    evals = list(strat.configure_evaluate(1, new, ConfigRecord(dict(config)), Cohort([0])))
    reply = get_learner("adapters").evaluate(
        exp, 0, 1, evals[0].content[wire.ARRAYS], evals[0].content[wire.CONFIG], ClientState()
    )
    assert reply.positions == [0, 1]
    task0 = exp.plan.streams[0].slots[0].task_id
    assert reply.accuracies[0] == pytest.approx(acc1[task0])


def test_layout_must_reach_the_client():
    _, exp, _, arrays, config = setup("adapter_avg")
    with pytest.raises(ValueError, match="fedsim.adapter-layout"):
        get_learner("adapters").train(exp, 0, 1, arrays, config, ClientState())


def test_unknown_array_without_group_prefix_is_rejected():
    _, exp, strat, arrays, _ = setup("adapter_avg")
    strat.reference_arrays(arrays)
    content = RecordDict(
        {
            wire.ARRAYS: ArrayRecord({"features.1.weight": Array(np.zeros(2))}),
            wire.METRICS: MetricRecord({wire.NUM_EXAMPLES: 1, wire.REPLY_CLIENT_ID: 7}),
        }
    )
    reason = strat.check_reply(Message(content=content, dst_node_id=0, message_type="train"))
    assert reason.startswith("client 7:") and "features.1.weight" in reason
