"""Central DP around a weights strategy, against Flower's own server-side DP wrappers."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
)

from fedsim import wire
from fedsim.server.strategy_state import load_strategy_state, strategy_state
from strategies.central_dp import CentralDP
from tests.fake_grid import task_identity

KEYS = ("w", "b")


@pytest.fixture(autouse=True)
def _identity():
    """Flower's Message needs the run identity the ServerApp runtime would set."""
    with task_identity():
        yield


def arrays(values) -> ArrayRecord:
    pairs = zip(KEYS, values, strict=True)
    return ArrayRecord({k: Array(np.asarray(v, dtype=np.float32)) for k, v in pairs})


def reply(values, n: int = 10) -> Message:
    metrics = MetricRecord({wire.NUM_EXAMPLES: n})
    content = RecordDict({wire.ARRAYS: arrays(values), wire.METRICS: metrics})
    return Message(content=content, dst_node_id=0, message_type="train")


def replies(scales, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [
        reply([s * rng.normal(size=(3, 2)), s * rng.normal(size=2)], n=10)
        for s in scales
    ]


def flwr_fedavg() -> FedAvg:
    return FedAvg(min_train_nodes=1, min_available_nodes=1, min_evaluate_nodes=1)


def numpy_of(rec: ArrayRecord) -> list[np.ndarray]:
    return [rec[k].numpy() for k in KEYS]


GLOBAL = [np.zeros((3, 2)), np.zeros(2)]


def run(strategy, reps, rnd: int = 1):
    """Aggregate ``reps`` as after a configure_train with the zero global arrays."""
    if isinstance(strategy, CentralDP):
        strategy.current = arrays(GLOBAL)
    else:  # Flower's wrappers keep the round's arrays here
        strategy.current_arrays = arrays(GLOBAL)
    out, _ = strategy.aggregate_train(rnd, reps)
    return numpy_of(out)


def test_fixed_clipping_aggregate_equals_flowers_without_noise():
    ours = CentralDP(flwr_fedavg(), noise_multiplier=0.0, clip_norm=1.0, population=10)
    theirs = DifferentialPrivacyServerSideFixedClipping(flwr_fedavg(), 0.0, 1.0, 4)
    got = run(ours, replies([0.05, 0.1, 2.0, 5.0]))
    want = run(theirs, replies([0.05, 0.1, 2.0, 5.0]))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert ours.privacy_scalars()["clipped_fraction"] == pytest.approx(0.5)


def test_uniform_weights_make_the_mean_unweighted():
    ours = CentralDP(flwr_fedavg(), noise_multiplier=0.0, clip_norm=100.0, population=2)
    reps = [
        reply([np.ones((3, 2)), np.ones(2)], n=1),
        reply([3 * np.ones((3, 2)), 3 * np.ones(2)], n=3),
    ]
    got = run(ours, reps)
    np.testing.assert_allclose(got[0], 2.0)  # (1 + 3) / 2, not (1*1 + 3*3) / 4


def test_noise_on_the_mean_has_std_z_c_over_n():
    z, c, n = 0.8, 0.5, 4
    ours = CentralDP(flwr_fedavg(), noise_multiplier=z, clip_norm=c, population=n, seed=3)
    big = [np.zeros((300, 200)), np.zeros(2)]
    ours.current = arrays(big)
    reps = [reply(big) for _ in range(n)]
    out, _ = ours.aggregate_train(1, reps)
    noise = out["w"].numpy()
    assert noise.std() == pytest.approx(z * c / n, rel=0.02)
    again = CentralDP(flwr_fedavg(), noise_multiplier=z, clip_norm=c, population=n, seed=3)
    again.current = arrays(big)
    out2, _ = again.aggregate_train(1, [reply(big) for _ in range(n)])
    np.testing.assert_array_equal(out2["w"].numpy(), noise)  # seeded: a resume draws the same


def test_adaptive_clip_norm_grows_when_updates_are_clipped_unlike_flower():
    """Andrew et al. 2021: C grows while fewer than gamma of the updates fit in it.

    Flower 1.42's server-side adaptive wrapper counts *clipped* updates in the same formula,
    so with every update clipped its C shrinks instead (the divergence the docs mention).
    """
    big = [10.0] * 4
    ours = CentralDP(flwr_fedavg(), noise_multiplier=0.0, clip_norm=0.1, population=4,
                     adaptive=True, target_quantile=0.5, clip_lr=0.2)  # fmt: skip
    theirs = DifferentialPrivacyServerSideAdaptiveClipping(
        flwr_fedavg(), 0.0, 4, initial_clipping_norm=0.1, target_clipped_quantile=0.5,
        clip_norm_lr=0.2,
    )
    got = run(ours, replies(big))
    want = run(theirs, replies(big))
    for a, b in zip(got, want, strict=True):  # the same clipping at the round's C
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert ours.clip == pytest.approx(0.1 * np.exp(0.2 * 0.5))  # b = 0 unclipped
    assert theirs.clipping_norm == pytest.approx(0.1 * np.exp(-0.2 * 0.5))


def test_epsilon_accumulates_per_round_and_state_round_trips():
    pytest.importorskip("opacus")
    ours = CentralDP(flwr_fedavg(), noise_multiplier=1.0, clip_norm=1.0, population=20,
                     adaptive=True, expected_clients=40)  # fmt: skip
    eps = []
    for rnd in (1, 2, 3):
        ours.current = arrays(GLOBAL)
        ours.aggregate_train(rnd, replies([3.0] * 4, seed=rnd))
        eps.append(ours.privacy_scalars()["epsilon"])
    assert eps[0] < eps[1] < eps[2]
    fresh = CentralDP(flwr_fedavg(), noise_multiplier=1.0, clip_norm=1.0, population=20,
                      adaptive=True, expected_clients=40)  # fmt: skip
    load_strategy_state(fresh, strategy_state(ours))
    assert fresh.clip == ours.clip and fresh.history == ours.history
    assert fresh.privacy_scalars() == ours.privacy_scalars()


def test_the_wrapper_delegates_configure_train_and_remembers_the_arrays():
    ours = CentralDP(flwr_fedavg(), noise_multiplier=0.0, clip_norm=1.0, population=2)

    class Grid:
        def get_node_ids(self):
            return [1, 2]

        def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
            return Message(content=content, dst_node_id=dst_node_id, message_type=message_type)

    msgs = list(ours.configure_train(1, arrays(GLOBAL), ConfigRecord({}), Grid()))
    assert len(msgs) == 2 and list(ours.current.keys()) == list(KEYS)


def test_epsilon_is_unamplified_unless_asked():
    pytest.importorskip("opacus")
    from fedsim.privacy import accountant

    def eps(amplification: bool) -> float:
        dp = CentralDP(flwr_fedavg(), noise_multiplier=1.0, clip_norm=1.0, population=40,
                       amplification=amplification)  # fmt: skip
        dp.current = arrays(GLOBAL)
        dp.aggregate_train(1, replies([1.0] * 4))
        return dp.privacy_scalars()["epsilon"]

    plain = accountant.epsilon([accountant.GaussianSteps(1.0, 1.0, 1)], 1e-5)
    assert eps(False) == pytest.approx(plain)
    assert eps(True) == pytest.approx(
        accountant.epsilon([accountant.GaussianSteps(1.0, 0.1, 1)], 1e-5)
    )
    assert eps(True) < eps(False)
