"""FedHyper's update rules against hand-computed values on a 2-parameter toy problem."""


import numpy as np
import pytest
from flwr.app import Array, ArrayRecord

from fedsim.server.checkpoint_codec import decode, encode
from strategies.lr.fedhyper import FedHyper
from strategies.lr.schedules import ScheduledLR


def rec(values, **extra) -> ArrayRecord:
    arrays = {"w": Array(np.asarray(values, dtype=np.float32))}
    arrays.update({k: Array(np.asarray(v)) for k, v in extra.items()})
    return ArrayRecord(arrays)


def w(record: ArrayRecord) -> np.ndarray:
    return record["w"].numpy()


def step(ctrl, rnd, theta, delta):
    """One round: the strategy aggregated ``theta + delta``; return the controller's result."""
    ctrl.client_config(rnd)
    return ctrl.server_step(rnd, rec(theta), rec(np.asarray(theta) + np.asarray(delta)), [])


def test_global_g_hand_computed():
    c = FedHyper(0.1, global_rule="g", server_lr_bounds=[0.2, 5.0])
    t1 = w(step(c, 1, [0, 0], [1, 2]))  # round 0 of the code: plain FedAvg, Delta_0 stored
    assert np.allclose(t1, [1, 2]) and c.scalars()["lr/server"] == 1.0
    t2 = w(step(c, 2, t1, [0.5, 0.5]))  # a = 0 + <[1,2],[.5,.5]> = 1.5 -> eta 2.5
    assert c.a == pytest.approx(1.5) and c.scalars()["lr/server"] == pytest.approx(2.5)
    assert np.allclose(t2, [2.25, 3.25])
    t3 = w(step(c, 3, t2, [-1, 0]))  # a = 1.5 - 0.5 = 1.0 -> eta 2
    assert c.a == pytest.approx(1.0) and np.allclose(t3, [0.25, 3.25])
    t4 = w(step(c, 4, t3, [-10, 0]))  # a = 1 + 10 = 11 -> clipped to 4 (eta 5)
    assert c.scalars()["lr/server"] == pytest.approx(5.0) and np.allclose(t4, [-49.75, 3.25])
    step(c, 5, t4, [10, 0])  # a = 4 - 100 -> clipped to -0.8 (eta 0.2)
    assert c.scalars()["lr/server"] == pytest.approx(0.2)


def test_global_gm_hand_computed():
    c = FedHyper(0.1, global_rule="gm", server_lr_bounds=[0.8, 5.0], momentum=0.9)
    t1 = w(step(c, 1, [0, 0], [1, 2]))  # m_0 = Delta_0
    assert np.allclose(t1, [1, 2])
    t2 = w(step(c, 2, t1, [0.5, 0.5]))
    # a = <m_0, Delta_1> = 1.5; theta = t1 + 2.5 Delta_1 + 0.9 * 1.5 * m_0
    assert c.a == pytest.approx(1.5)
    assert np.allclose(t2, [3.6, 5.95])
    assert np.allclose(c.velocity["w"], [1.4, 2.3])  # m_1 = Delta_1 + 0.9 m_0
    t3 = w(step(c, 3, t2, [-1, 0]))
    # a = 1.5 + <[1.4,2.3],[-1,0]> = 0.1; theta = t2 + 1.1 Delta_2 + 0.9 * 0.1 * m_1
    assert c.a == pytest.approx(0.1)
    assert np.allclose(t3, [2.626, 6.157], atol=1e-5)
    assert np.allclose(c.velocity["w"], [0.26, 2.07])
    step(c, 4, t3, [-100, 0])  # a = 0.1 - 26 -> clipped to -0.2 (eta 0.8)
    assert c.scalars()["lr/server"] == pytest.approx(0.8)


def test_server_local_hand_computed_applies_to_next_round():
    c = FedHyper(0.1, server_local=True, local_lr_bounds=[0.1, 10.0])
    theta = w(step(c, 1, [0, 0], [1, 2]))
    assert c.client_config(2)["lr"] == pytest.approx(0.1)
    theta2 = w(step(c, 2, theta, [0.5, 0.5]))  # s = 1.5 -> lr 0.25 for round 3
    assert np.allclose(theta2, theta + 0.5)  # no global scaling in SL
    assert c.scalars()["lr/client_sent"] == pytest.approx(0.1)  # round 2 used the old LR
    assert c.client_config(3)["lr"] == pytest.approx(0.25)
    theta3 = w(c.server_step(3, rec(theta2), rec(theta2 + [-1, 0]), []))  # s = 1.0 -> 0.2
    assert c.client_config(4)["lr"] == pytest.approx(0.2)
    theta4 = w(c.server_step(4, rec(theta3), rec(theta3 + [-20, 0]), []))  # s = 21 -> 1.0
    assert c.client_config(5)["lr"] == pytest.approx(1.0)  # clipped at 10 * lr0
    c.server_step(5, rec(theta4), rec(theta4 + [20, 0]), [])  # s = 21 - 400 -> 0.01
    assert c.client_config(6)["lr"] == pytest.approx(0.01)


def test_server_local_code_faithful_is_fedavg():
    c = FedHyper(0.1, server_local=True, code_faithful=True)
    theta = w(step(c, 1, [0, 0], [1, 2]))
    step(c, 2, theta, [0.5, 0.5])
    assert c.sl_acc == pytest.approx(1.5)
    assert c.client_config(3)["lr"] == pytest.approx(0.1)


def test_client_local_config_and_global_update_sent():
    c = FedHyper(0.1, client_local=True, cl_global_scale=0.1)
    assert c.client_arrays(1) is None  # Delta_0 does not exist: zeros on the client
    cfg = c.client_config(1)
    assert cfg["fedsim.hyper-cl"] is True and cfg["lr"] == 0.1
    c.server_step(1, rec([0, 0]), rec([1, 2]), [])
    sent = c.client_arrays(2)
    assert np.allclose(sent["w"].numpy(), [1, 2])


def test_bounds_respected_under_random_updates():
    rng = np.random.default_rng(0)
    g = FedHyper(0.05, global_rule="g", server_lr_bounds=[0.3, 3.0])
    gm = FedHyper(0.05, global_rule="gm", server_lr_bounds=[0.9, 2.0], server_local=True,
                  local_lr_bounds=[0.5, 4.0])
    for ctrl, low, high in ((g, 0.3, 3.0), (gm, 0.9, 2.0)):
        theta = np.zeros(2)
        for rnd in range(1, 60):
            ctrl.client_config(rnd)
            delta = rng.normal(scale=10 ** rng.uniform(-3, 2), size=2)
            theta = w(ctrl.server_step(rnd, rec(theta), rec(theta + delta), []))
            assert low - 1e-12 <= ctrl.scalars()["lr/server"] <= high + 1e-12
            if ctrl.server_local:
                assert 0.025 - 1e-12 <= ctrl.client_config(rnd + 1)["lr"] <= 0.2 + 1e-12


def test_composes_with_any_arrays_and_keeps_non_float():
    c = FedHyper(0.1, global_rule="g")
    prev = rec([0, 0], steps=np.array([3], dtype=np.int64))
    agg = rec([1, 1], steps=np.array([4], dtype=np.int64))
    c.server_step(1, prev, agg, [])
    prev2 = rec([1, 1], steps=np.array([4], dtype=np.int64))
    agg2 = ArrayRecord({
        "w": Array(np.array([2, 2], dtype=np.float32)),
        "steps": Array(np.array([5], dtype=np.int64)),
        "proto": Array(np.ones(3, dtype=np.float32)),  # new key: passes through
    })
    out = c.server_step(2, prev2, agg2, [])
    assert c.a == pytest.approx(2.0)  # <[1,1],[1,1]>
    assert np.allclose(out["w"].numpy(), [4, 4]) and out["w"].numpy().dtype == np.float32
    assert out["steps"].numpy().tolist() == [5] and out["steps"].numpy().dtype == np.int64
    assert np.allclose(out["proto"].numpy(), 1)


def test_state_dict_round_trip_is_exact():
    rng = np.random.default_rng(1)
    a = FedHyper(0.1, global_rule="gm", server_local=True, client_local=True)
    theta = np.zeros(2)
    for rnd in range(1, 4):
        a.client_config(rnd)
        theta = w(a.server_step(rnd, rec(theta), rec(theta + rng.normal(size=2)), []))
    b = FedHyper(0.1, global_rule="gm", server_local=True, client_local=True)
    b.load_state_dict(decode(*encode(a.state_dict())))  # through the checkpoint codec
    assert b.scalars() == a.scalars()
    for rnd in range(4, 7):
        delta = rng.normal(size=2)
        assert a.client_config(rnd) == b.client_config(rnd)
        ta = w(a.server_step(rnd, rec(theta), rec(theta + delta), []))
        tb = w(b.server_step(rnd, rec(theta), rec(theta + delta), []))
        assert np.array_equal(ta, tb)
        theta = ta
    assert a.scalars() == b.scalars()


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"server_lr_bounds": [5.0, 1.0]}, "server_lr_bounds"),
        ({"server_lr_bounds": [0.0, 5.0]}, "server_lr_bounds"),
        ({"server_lr_bounds": [1.5, 5.0]}, "server_lr_bounds"),
        ({"local_lr_bounds": [-1, 10]}, "local_lr_bounds"),
        ({"local_lr_bounds": [2, 2]}, "local_lr_bounds"),
        ({"hyper_lr": -1.0}, "hyper_lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"cl_max_growth": 0.0}, "cl_max_growth"),
        ({"global_rule": "adam"}, "global_rule"),
    ],
)
def test_invalid_bounds_and_rates(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        FedHyper(0.1, **kwargs)
    with pytest.raises(ValueError, match="lr"):
        FedHyper(0.0)


def test_step_and_cosine_schedules():
    s = ScheduledLR(0.2, kind="step", step_rounds=2, gamma=0.5)
    assert [s.client_config(r)["lr"] for r in (1, 2, 3, 5)] == pytest.approx([0.2, 0.2, 0.1, 0.05])
    cos = ScheduledLR(0.2, kind="cosine", period=4, min_factor=0.0)
    assert [cos.client_config(r)["lr"] for r in (1, 3, 5, 9)] == pytest.approx([0.2, 0.1, 0, 0])
    srv = ScheduledLR(0.2, kind="step", target="server", step_rounds=1, gamma=0.5)
    assert srv.client_config(2)["lr"] == 0.2
    out = srv.server_step(2, rec([0, 0]), rec([2, 4]), [])
    assert np.allclose(w(out), [1, 2]) and srv.scalars()["lr/server"] == 0.5
    with pytest.raises(ValueError, match="gamma"):
        ScheduledLR(0.1, gamma=1.5)


def test_default_server_bounds_follow_the_global_rule():
    # the official code: a_t in [-0.8, 4] for G, [-0.2, 4] for GM (eta_g = 1 + a_t)
    assert FedHyper(0.1, global_rule="g").server_bounds == (0.2, 5.0)
    assert FedHyper(0.1, global_rule="gm").server_bounds == (0.8, 5.0)
    assert FedHyper(0.1, global_rule="gm", server_lr_bounds=[0.5, 2]).server_bounds == (0.5, 2.0)


def test_hypergradient_uses_parameters_only_not_batchnorm_buffers():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    buffers = [n for n, _ in model.named_buffers()]
    params = [n for n, _ in model.named_parameters()]
    rng = np.random.default_rng(3)
    theta = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}

    def step(base):
        out = {}
        for k, v in base.items():
            out[k] = v if v.dtype.kind == "i" else (v + rng.normal(size=v.shape)).astype(v.dtype)
        return out

    ctrl = FedHyper(0.1, global_rule="g", buffer_keys=buffers)
    rec = lambda d: ArrayRecord({k: Array(np.asarray(v)) for k, v in d.items()})  # noqa: E731
    agg1 = step(theta)
    new1 = {k: a.numpy() for k, a in ctrl.server_step(1, rec(theta), rec(agg1), []).items()}
    agg2 = step(new1)
    new2 = {k: a.numpy() for k, a in ctrl.server_step(2, rec(new1), rec(agg2), []).items()}
    d1 = {k: agg1[k].astype(np.float64) - theta[k] for k in params}
    d2 = {k: agg2[k].astype(np.float64) - new1[k] for k in params}
    a = float(np.clip(sum(float(np.dot(d1[k].ravel(), d2[k].ravel())) for k in params), -0.8, 4))
    assert ctrl.a == pytest.approx(a)
    assert set(ctrl.last_delta) == set(params)
    for k in params:
        np.testing.assert_allclose(new2[k], (new1[k] + (1 + a) * d2[k]).astype(np.float32),
                                   rtol=1e-6)
    for k in buffers:  # buffers keep the strategy's aggregate
        np.testing.assert_array_equal(new2[k], agg2[k])
    # with the buffers counted (the old behaviour) the accumulator differs
    every = FedHyper(0.1, global_rule="g")
    every.server_step(1, rec(theta), rec(agg1), [])
    every.server_step(2, rec(new1), rec(agg2), [])
    assert every.a != pytest.approx(a)


def test_update_dot_is_the_same_in_every_process():
    """Summation order must not follow set/hash order (PYTHONHASHSEED differs per process)."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np; from strategies.lr.hypergrad import dot; "
        "r = np.random.default_rng(0); "
        "a = {f'layer{i}.weight': r.normal(size=50) for i in range(8)}; "
        "b = {k: r.normal(size=50) for k in a}; print(repr(dot(a, b)))"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": root},
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(outs) == 1, outs
