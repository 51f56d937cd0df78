"""The one loop assembly: every learner honours FedHyper-CL, curricula and the proximal term."""

import numpy as np
import pytest
from flwr.app import ConfigRecord

from fedsim import wire
from fedsim.client.learners import get_learner
from fedsim.client.plugins.data_curriculum import DataCurriculum
from fedsim.client.plugins.hypergradient import HypergradientLR
from fedsim.client.plugins.loop_assembly import LoopSupport, assemble_loop
from fedsim.client.plugins.proximal import ProximalTerm
from fedsim.client.state import ClientState
from fedsim.experiment import get_experiment
from fedsim.server.app import build_strategy, train_config
from scenarios.curricula.curriculum import Curriculum
from strategies.lr.fedhyper import FedHyper
from strategies.prototypes import bank_to_arrays, empty_bank
from tests.adapters.conftest import _flower_identity, adapter_cfg  # noqa: F401
from tests.conftest import SMALL, compose

LR = 0.05
D = 128


@pytest.fixture(scope="module")
def exp():
    return get_experiment(compose(*SMALL))


def round_config(**items) -> ConfigRecord:
    base = {
        wire.LOCAL_EPOCHS: 2,
        wire.BATCH_SIZE: 8,
        wire.OPTIMIZER: "sgd",
        wire.MOMENTUM: 0.0,
        wire.WEIGHT_DECAY: 0.0,
        wire.LR: LR,
    }
    return ConfigRecord({**base, **items})


def hyper_items() -> dict:
    return FedHyper(LR, client_local=True).client_config(1)


def data_items(ordering: str = "curriculum") -> dict:
    return Curriculum(data={"ordering": ordering}).client_config()


def task_items(ordering: str) -> dict:
    return Curriculum(tasks={"ordering": ordering, "score": "global_loss"}).client_config()


def first_round(exp, cid: int = 0) -> int:
    return exp.plan.streams[cid].slots[0].start_round


def test_assembly_collects_every_configured_plugin_in_order(exp):
    cfg = round_config(**{wire.PROXIMAL_MU: 0.1}, **hyper_items(), **data_items())
    state = ClientState(config={wire.HYPER_CL_BETA: 2.0})
    loop = assemble_loop(exp, 0, first_round(exp), cfg, state, exp.make_model())
    assert [type(p) for p in loop.plugins] == [ProximalTerm, HypergradientLR, DataCurriculum]
    assert loop.hp["lr"] == pytest.approx(2.0 * LR)  # persisted beta * eta_l0
    assert loop.hp["epochs"] == 2 and loop.hp["batch_size"] == 8
    assert loop.state_items()[wire.HYPER_CL_BETA] == pytest.approx(2.0)
    plain = assemble_loop(exp, 0, first_round(exp), round_config(), ClientState(),
                          exp.make_model())
    assert plain.plugins == [] and plain.hp["lr"] == LR and plain.state_items() == {}


def test_assembly_refuses_what_the_learner_cannot_honour(exp):
    cfg = round_config(**{**data_items(), wire.CURRICULUM_SCORING: "local"})
    with pytest.raises(ValueError, match="curriculum.scoring=local"):
        assemble_loop(exp, 0, first_round(exp), cfg, ClientState(), exp.make_model(),
                      support=LoopSupport(local_scoring=False))


def proto_train(exp, cfg, cid=0, state=None):
    arrays = bank_to_arrays(*empty_bank(10, D))
    items = {wire.PROTO_MODEL: "personal", wire.PROTO_LAMBDA: 1.0, wire.PROTO_SEND: "every-round"}
    full = ConfigRecord({**dict(cfg), **items})
    return get_learner("prototypes").train(
        exp, cid, first_round(exp, cid), arrays, full, state or ClientState()
    )


def test_fedproto_client_lr_moves_with_fedhyper_cl(exp):
    plain = proto_train(exp, round_config())
    hyper = proto_train(exp, round_config(**hyper_items()))
    assert plain.metrics[wire.FINAL_LR] == LR
    assert hyper.metrics[wire.FINAL_LR] != pytest.approx(LR)
    beta = hyper.state.config[wire.HYPER_CL_BETA]
    assert beta == pytest.approx(hyper.metrics[wire.FINAL_LR] / LR)


def test_fedproto_honours_the_data_curriculum_and_proximal_term(exp):
    plain = proto_train(exp, round_config())
    paced = proto_train(exp, round_config(**data_items()))
    assert 0 < paced.metrics[wire.CURRICULUM_POOL] < 1
    assert paced.metrics[wire.TRAIN_LOSS] != plain.metrics[wire.TRAIN_LOSS]
    prox = proto_train(exp, round_config(**{wire.PROXIMAL_MU: 5.0}))
    assert prox.metrics[wire.TRAIN_LOSS] != plain.metrics[wire.TRAIN_LOSS]
    assert wire.DIFFICULTY not in plain.metrics  # nobody asked: no scoring forward pass
    asked = proto_train(exp, round_config(**{wire.REPORT_DIFFICULTY: True}))
    assert asked.metrics[wire.DIFFICULTY] > 0  # the client-curriculum signal is reported
    assert asked.metrics[wire.TRAIN_LOSS] == plain.metrics[wire.TRAIN_LOSS]


def test_fedproto_runtime_task_order_decides_and_is_kept(exp):
    chosen = {}
    for ordering in ("curriculum", "anti"):
        out = proto_train(exp, round_config(**task_items(ordering)))
        decided = out.state.config[wire.CURRICULUM_DECIDED]
        assert len(decided) == 1
        slot = exp.plan.streams[0].slots[decided[0]]
        assert out.metrics[wire.TASK_ID] == slot.task_id
        chosen[ordering] = slot.task_id
    assert chosen["curriculum"] != chosen["anti"]  # the easiest vs the hardest candidate


def adapter_train(cfg_items: dict, *extra: str):
    cfg = adapter_cfg("adapter_avg", *extra)
    exp = get_experiment(cfg)
    strat = build_strategy(cfg["strategy"])
    arrays = strat.initial_arrays(exp)
    config = ConfigRecord({**train_config(cfg), wire.LR: 0.1, **cfg_items,
                           wire.ADAPTER_LAYOUT: strat.layout.to_json()})
    cid = 0
    rnd = exp.plan.streams[cid].slots[0].start_round
    return get_learner("adapters").train(exp, cid, rnd, arrays, config, ClientState())


def test_adapter_learner_batch_order_changes_under_a_data_curriculum():
    plain = adapter_train({})
    paced = adapter_train(data_items())
    anti = adapter_train(data_items("anti"))
    assert wire.CURRICULUM_POOL not in plain.metrics
    assert 0 < paced.metrics[wire.CURRICULUM_POOL] < 1
    keys = list(plain.arrays.keys())
    differs = [
        not np.array_equal(plain.arrays[k].numpy(), paced.arrays[k].numpy()) for k in keys
    ]
    assert any(differs)  # another batch order trains other adapter values
    assert paced.metrics[wire.TRAIN_LOSS] != anti.metrics[wire.TRAIN_LOSS]


def test_adapter_learner_lr_moves_with_fedhyper_cl():
    out = adapter_train(hyper_items())
    assert out.metrics[wire.FINAL_LR] != pytest.approx(0.1)
    assert wire.HYPER_CL_BETA in out.state.config


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_corrupt_faults_poison_fedproto_class_means_and_are_rejected(exp, kind):
    from flwr.app import Message, MetricRecord, RecordDict

    from fedsim.faults.client import corrupt_arrays
    from fedsim.server.reply_checks import check_train_reply

    out = proto_train(exp, round_config())
    bad = corrupt_arrays(ConfigRecord({wire.FAULT: kind}), out.arrays, out.arrays)
    assert np.array_equal(bad[wire.PROTO_CLASSES].numpy(), out.arrays[wire.PROTO_CLASSES].numpy())
    assert not np.all(np.isfinite(bad[wire.PROTO_MEANS].numpy()))
    content = RecordDict({wire.ARRAYS: bad, wire.METRICS: MetricRecord(
        {k: v for k, v in out.metrics.items() if v == v})})
    reason = check_train_reply(Message(content=content, dst_node_id=0, message_type="train"), None)
    assert reason is not None and wire.PROTO_MEANS in reason


def test_fedproto_evaluates_in_the_order_it_took(exp):
    cfg = round_config(**task_items("anti"))
    out = proto_train(exp, cfg)
    items = {wire.PROTO_MODEL: "personal", wire.PROTO_INFERENCE: "head"}
    reply = get_learner("prototypes").evaluate(
        exp, 0, first_round(exp), bank_to_arrays(*empty_bank(10, D)),
        ConfigRecord({**dict(cfg), **items}), out.state,
    )
    taken = out.metrics[wire.TASK_ID]
    assert reply.order == [taken]
    assert reply.positions[0] == 0 and reply.task_ids[0] == taken
    # the next position is undecided: every other task of the same length is scored
    assert sorted(reply.task_ids[1:]) == sorted(
        s.task_id for s in exp.plan.streams[0].slots if s.task_id != taken
    )
