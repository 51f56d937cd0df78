"""TARGET's client half in the real weights learner and ClientApp, and its bytes on a fake grid."""

import math

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, RecordDict
from torch import nn

from fedsim import wire
from fedsim.client.app import train_one
from fedsim.client.plugins.target_kd import SyntheticDistillation
from fedsim.client.training_loop import StepInfo
from fedsim.experiment import get_experiment
from fedsim.server.state import CHECKPOINT_NAME, checkpoint_round
from tests.client.baselines.test_client_state import BASE
from tests.conftest import SMALL, compose
from tests.fake_grid import EngineStoppedError, run_on_fake_grid
from tests.server import resume_cases

TARGET = {wire.TARGET_KD: 25.0, wire.TARGET_TEMPERATURE: 2.0}


def kd_by_hand(student: list[float], teacher: list[float], temp: float) -> float:
    """Official ``_KD_loss`` for one sample: -sum softmax(t/T) log softmax(s/T)."""
    soft = [math.exp(v / temp) for v in teacher]
    soft = [v / sum(soft) for v in soft]
    log_z = math.log(sum(math.exp(v / temp) for v in student))
    return -sum(p * (s / temp - log_z) for p, s in zip(soft, student, strict=True))


def test_kd_on_synthetic_inputs_at_a_known_temperature_over_the_old_classes():
    teacher = nn.Linear(2, 4)
    student = nn.Linear(2, 4)
    x = np.array([[1.0, -1.0], [0.5, 2.0]], dtype=np.float32)
    plugin = SyntheticDistillation(teacher, x, [0, 2], 3.0, 2.0, np.random.default_rng(0))
    info = StepInfo(0, 0, 0.1, torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), None)
    got = float(plugin.extra_loss(student, info).detach())
    xs = torch.from_numpy(x)
    s, t = student(xs).tolist(), teacher(xs).tolist()
    pairs = zip(s, t, strict=True)
    expected = sum(kd_by_hand([r[0], r[2]], [q[0], q[2]], 2.0) for r, q in pairs) / 2
    assert got == pytest.approx(3.0 * expected, rel=1e-5)
    assert plugin.metrics()[wire.TARGET_KD_LOSS] == pytest.approx(expected, rel=1e-5)
    assert not any(p.requires_grad for p in teacher.parameters())


@pytest.fixture(scope="module")
def exp():
    return get_experiment(compose(*SMALL))


def _content(exp, cid: int, rnd: int, received: ArrayRecord, items: dict, shared: dict):
    cfg = ConfigRecord({**BASE, **items, wire.SERVER_ROUND: rnd, wire.CLIENT_ID: cid})
    return RecordDict({wire.ARRAYS: received, wire.CONFIG: cfg, **shared})


def _train(exp, items: dict, shared: dict):
    torch.manual_seed(7)
    received = ArrayRecord(exp.make_model().state_dict())
    cid = 0
    rnd = exp.plan.streams[cid].slots[0].start_round
    out = train_one(exp.cfg, _content(exp, cid, rnd, received, items, shared), Context(
        run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={}))
    return received, out


def _shared(exp, n: int = 12) -> dict:
    torch.manual_seed(3)
    teacher = ArrayRecord(exp.make_model().state_dict())
    x = np.random.default_rng(0).random((n, *exp.data.input_shape)).astype(np.float32)
    return {wire.TARGET_TEACHER: teacher, wire.TARGET_SYNTHETIC: ArrayRecord({"x": Array(x)})}


def test_synthetic_set_reaches_the_client_and_the_kd_term_changes_the_update(exp):
    shared = _shared(exp)
    on = {**TARGET, wire.TARGET_CLASSES: [0, 1, 2]}
    _, with_kd = _train(exp, on, shared)
    _, without = _train(exp, {**on, wire.TARGET_KD: 0.0}, shared)
    _, before = _train(exp, TARGET, {})  # before the first boundary: nothing sent
    m = with_kd[wire.METRICS]
    assert m[wire.TARGET_KD_LOSS] > 0.0
    x = shared[wire.TARGET_SYNTHETIC]["x"].numpy()
    assert m[wire.MEMORY_SYNTHETIC] == x.nbytes
    teacher = shared[wire.TARGET_TEACHER]
    assert m[wire.MEMORY_OLD_MODEL] == sum(teacher[k].numpy().nbytes for k in teacher)
    assert before[wire.METRICS][wire.TARGET_KD_LOSS] == 0.0
    assert before[wire.METRICS][wire.MEMORY_SYNTHETIC] == 0.0
    a, b, c = (r[wire.ARRAYS] for r in (with_kd, without, before))
    assert any(not np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert all(np.array_equal(b[k].numpy(), c[k].numpy()) for k in b)  # weight 0 == no KD
    assert wire.CLIENT_ARRAYS not in with_kd  # the client keeps nothing between rounds


def test_a_run_sends_teacher_and_synthetic_set_and_counts_them_in_bytes_down(tmp_path):
    tiny = ["strategy.syn_rounds=1", "strategy.syn_batch=8", "strategy.g_steps=2",
            "strategy.student_steps=1", "strategy.min_gap=1"]  # fmt: skip
    runs = {}
    for name, extra in (("target", tiny), ("fedavg", [])):
        over = [*SMALL, "scenario.num_tasks=3", f"strategy={name}", *extra]
        cfg = compose(*over, f"output.root={tmp_path}")
        summary, grid = run_on_fake_grid(cfg, tmp_path / name)
        runs[name] = (summary, cfg)
    exp = get_experiment(runs["target"][1])
    synthetic_bytes = 8 * int(np.prod(exp.data.input_shape)) * 4  # 8 float32 inputs
    x = np.zeros((8, *exp.data.input_shape), dtype=np.float32)
    per_client = (  # Flower's count of the two records: the old model and the synthetic set
        ArrayRecord(exp.make_model().state_dict()).count_bytes()
        + ArrayRecord({"x": Array(x)}).count_bytes()
    )
    first = min(s.start_round for st in exp.plan.streams for s in st.slots[1:])
    rows = zip(runs["target"][0]["history"], runs["fedavg"][0]["history"], strict=True)
    for row_t, row_a in rows:
        cohort = row_t["asked"]  # train messages sent this round
        extra = row_t["bytes_down"] - row_a["bytes_down"]
        sent = cohort * per_client if row_t["round"] >= first else 0
        assert extra == sent, row_t["round"]
    last = runs["target"][0]["history"][-1]["baselines"]
    assert last[f"{wire.TARGET_KD_LOSS}/mean"] > 0.0
    assert last[f"{wire.MEMORY_SYNTHETIC}/max"] == synthetic_bytes
    # killed after the first synthesis was checkpointed, resumed: the same run, bit for bit
    whole, cfg = runs["target"]
    ck = tmp_path / "stopped" / CHECKPOINT_NAME
    with pytest.raises(EngineStoppedError):
        run_on_fake_grid(cfg, ck.parent, stop_when=lambda: ck.exists() and (
            checkpoint_round(ck) >= first))
    resumed, _ = run_on_fake_grid(cfg, ck.parent, resume=True)
    assert resumed["resumed_from_round"] == first < len(whole["history"])
    assert resume_cases.comparable(resumed) == resume_cases.comparable(whole)
