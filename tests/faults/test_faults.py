"""The fault model (seeded, reproducible) and the client-side corruption of replies."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord

from fedsim import wire
from fedsim.faults.client import InjectedCrashError, before_train, corrupt_arrays
from fedsim.faults.models import FaultModel, NoFaults
from fedsim.server.reply_checks import check_train_reply
from tests.server.replies import make_reply


def test_same_seed_same_faults_and_rates_match():
    a = FaultModel(seed=3, num_clients=50, crash=0.3, nan=0.1, straggler=0.2)
    b = FaultModel(seed=3, num_clients=50, crash=0.3, nan=0.1, straggler=0.2)
    kinds = [a.kind_for(r, c) for r in range(1, 41) for c in range(50)]
    assert kinds == [b.kind_for(r, c) for r in range(1, 41) for c in range(50)]
    n = len(kinds)
    assert abs(kinds.count("crash") / n - 0.3) < 0.03
    assert abs(kinds.count("straggler") / n - 0.2) < 0.03
    assert abs(kinds.count("nan") / n - 0.1) < 0.03
    other = FaultModel(seed=4, num_clients=50, crash=0.3, nan=0.1, straggler=0.2)
    assert kinds != [other.kind_for(r, c) for r in range(1, 41) for c in range(50)]


def test_adversaries_are_a_fixed_fraction():
    fm = FaultModel(seed=0, num_clients=20, adversarial_fraction=0.1, adversarial_scale=5.0)
    assert len(fm.adversaries) == 2
    for cid in range(20):
        items = fm.fault_for(4, cid)
        if cid in fm.adversaries:
            assert items == {wire.FAULT: "adversarial", wire.FAULT_SCALE: -5.0}
        else:
            assert items == {}


def test_start_round_and_no_faults():
    fm = FaultModel(seed=0, crash=1.0, start_round=3)
    assert fm.fault_for(2, 0) == {} and fm.fault_for(3, 0) == {wire.FAULT: "crash"}
    assert NoFaults(seed=1).fault_for(1, 1) == {}


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"crash": 1.5}, "faults.crash"),
        ({"nan": -0.1}, "faults.nan"),
        ({"crash": 0.6, "nan": 0.6}, "sum"),
        ({"straggler_delay_s": 0}, "straggler_delay_s"),
        ({"adversarial_fraction": 2}, "adversarial_fraction"),
        ({"adversarial_mode": "flip"}, "adversarial_mode"),
        ({"adversarial_scale": 0}, "adversarial_scale"),
        ({"start_round": 0}, "start_round"),
    ],
)
def test_bad_parameters_raise(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        FaultModel(seed=0, num_clients=10, **kwargs)


def _arrays():
    return ArrayRecord({"w": Array(np.ones((3, 2), np.float32)), "b": Array(np.zeros(2))})


def test_crash_raises_and_straggler_delay_is_simulated(monkeypatch):
    with pytest.raises(InjectedCrashError, match="client 7"):
        before_train(ConfigRecord({wire.FAULT: "crash"}), 7)

    def no_sleep(seconds):
        raise AssertionError(f"a straggler slept {seconds} s: its delay must be simulated")

    monkeypatch.setattr("time.sleep", no_sleep)
    before_train(ConfigRecord({wire.FAULT: "straggler", wire.FAULT_DELAY: 2.5}), 1)
    before_train(ConfigRecord({}), 1)


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("nan", "NaN or Inf"),
        ("inf", "NaN or Inf"),
        ("wrong_shape", "has shape"),
        ("missing_key", "lacks key"),
    ],
)
def test_every_corruption_is_rejected_by_validation(kind, needle):
    ref = _arrays()
    bad = corrupt_arrays(ConfigRecord({wire.FAULT: kind}), ref, _arrays())
    reason = check_train_reply(make_reply(bad), ref)
    assert reason is not None and needle in reason
    assert check_train_reply(make_reply(_arrays()), ref) is None


def test_adversarial_update_is_flipped_and_scaled():
    received = _arrays()
    local = ArrayRecord({"w": Array(np.full((3, 2), 2.0, np.float32)), "b": Array(np.ones(2))})
    cfg = ConfigRecord({wire.FAULT: "adversarial", wire.FAULT_SCALE: -5.0})
    out = corrupt_arrays(cfg, received, local)
    np.testing.assert_allclose(out["w"].numpy(), 1.0 - 5.0 * (2.0 - 1.0))
    np.testing.assert_allclose(out["b"].numpy(), -5.0)
    assert check_train_reply(make_reply(out), received) is None  # well-formed: robust agg's job


def test_a_straggler_misses_the_deadline_by_its_simulated_delay_alone():
    from fedsim.transport.client_store import ClientStore
    from fedsim.transport.virtual_grid import VirtualGrid

    grid = VirtualGrid(None, ClientStore())
    slow = {wire.FAULT: "straggler", wire.FAULT_DELAY: 12.0}
    grid.set_cohort([1, 2, 3], {1: slow, 2: {wire.FAULT: "nan"}})
    assert grid.misses_deadline(1, timeout=10.0)
    assert not grid.misses_deadline(1, timeout=12.5)  # within the deadline: it answers
    assert not grid.misses_deadline(1, timeout=None)  # no deadline: merely slow
    assert not grid.misses_deadline(2, timeout=10.0) and not grid.misses_deadline(3, 1.0)
    grid.late_dropped = 4
    fresh = VirtualGrid(None, ClientStore())
    fresh.load_state_dict(grid.state_dict())
    assert fresh.late_dropped == 4
