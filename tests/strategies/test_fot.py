"""FOT's server half on hand-built replies, its reply checks, and real runs on the fake grid."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord

from fedsim import wire
from fedsim.experiment import _CACHE, get_experiment
from fedsim.server.app import build_strategy
from fedsim.server.state import load_checkpoint
from strategies.subspace import extend_basis
from tests.conftest import SMALL, compose
from tests.fake_grid import run_experiment
from tests.server.replies import make_reply

FOT = [*SMALL, "strategy=fot"]


@pytest.fixture(scope="module")
def setup():
    cfg = compose(*FOT)
    exp = get_experiment(cfg)
    strategy = build_strategy(cfg["strategy"])
    prev = ArrayRecord(exp.make_model().state_dict())
    strategy.initial_arrays(exp, prev)
    return exp, strategy, prev


def shifted(prev: ArrayRecord, rng, scale: float) -> ArrayRecord:
    return ArrayRecord({k: Array(prev[k].numpy() + scale * rng.normal(size=prev[k].shape)
                                 .astype(np.float32)) for k in prev.keys()})


def test_layers_and_head_choice(setup):
    exp, strategy, _ = setup
    assert not exp.plan.task_incremental  # class-incremental: one shared head, projected
    assert strategy.layers == {"features.1": ("linear", 64), "head": ("linear", 128)}
    ti = compose(*FOT, "scenario=task_incremental", "scenario.num_clients=4",
                 "scenario.num_tasks=2")
    other = build_strategy(ti["strategy"])
    other.initial_arrays(get_experiment(ti), ArrayRecord())
    assert set(other.layers) == {"features.1"}  # per-task heads stay free


def test_aggregate_extends_the_basis_then_projects_the_mean_update(setup):
    exp, _, prev = setup
    strategy = build_strategy(compose(*FOT)["strategy"])
    strategy.initial_arrays(exp, prev)
    strategy._sent = prev  # what configure_train remembers
    rng = np.random.default_rng(0)
    a = rng.normal(size=(64, 12))  # one client's representation of 'features.1'
    factor = np.linalg.svd(a, full_matrices=False)
    factor = (factor[0] * factor[1]).astype(np.float32)
    rep = ArrayRecord({"features.1": Array(factor)})
    one, two = shifted(prev, rng, 0.1), shifted(prev, rng, 0.1)
    replies = [
        make_reply(one, {wire.NUM_EXAMPLES: 10}, {wire.FOT_REPRESENTATION: rep}),
        make_reply(two, {wire.NUM_EXAMPLES: 30}),
    ]
    assert strategy.check_reply(replies[0]) is None
    new, _ = strategy.aggregate_train(1, replies)
    assert wire.FOT_REPRESENTATION not in replies[0].content  # taken out before Flower
    basis = extend_basis(None, [a], strategy.threshold)
    assert 0 < basis.shape[1] < 64
    np.testing.assert_allclose(strategy.basis["features.1"] @ strategy.basis["features.1"].T,
                               basis @ basis.T, atol=1e-5)
    for key in prev.keys():  # hand-computed: FedAvg's weighted mean, then Delta (I - U U^T)
        mean = (10 * one[key].numpy() + 30 * two[key].numpy()) / 40
        delta = mean - prev[key].numpy()
        if key == "features.1.weight":
            delta = delta - delta @ basis @ basis.T
        np.testing.assert_allclose(new[key].numpy(), prev[key].numpy() + delta, atol=1e-5)
    moved = new["features.1.weight"].numpy() - prev["features.1.weight"].numpy()
    assert np.abs(moved @ basis).max() < 1e-4  # fails if the projection is skipped
    assert strategy.summary_items()["fot_basis_width"] == {
        "features.1": basis.shape[1], "head": 0}
    assert strategy.summary_items()["fot_basis_bytes"] == 4 * 64 * basis.shape[1]


def test_state_round_trip(setup):
    exp, _, prev = setup
    strategy = build_strategy(compose(*FOT, "strategy.threshold_step=0.01")["strategy"])
    strategy.initial_arrays(exp, prev)
    strategy.extend({"head": [np.random.default_rng(1).normal(size=(128, 5))]})
    again = build_strategy(compose(*FOT, "strategy.threshold_step=0.01")["strategy"])
    again.load_state_dict(strategy.state_dict())
    assert again.eps == pytest.approx(0.99) and again.extensions == 1
    np.testing.assert_array_equal(again.basis["head"], strategy.basis["head"])


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ({"nope": np.zeros((3, 1))}, "unexpected layer 'nope'"),
        ({"head": np.zeros((64, 2))}, "expected (128, r)"),
        ({"head": np.full((128, 1), np.nan)}, "NaN or Inf"),
    ],
)
def test_bad_representations_are_rejected_naming_the_key(setup, record, why):
    _, strategy, prev = setup
    rep = ArrayRecord({k: Array(v.astype(np.float32)) for k, v in record.items()})
    reply = make_reply(prev, None, {wire.FOT_REPRESENTATION: rep})
    reason = strategy.check_reply(reply)
    assert reason is not None and why in reason and wire.FOT_REPRESENTATION in reason


def test_fake_grid_run_projects_the_last_update_and_counts_bytes(tmp_path):
    """Two runs of one seed, R-1 and R rounds: the last global update is orthogonal to the
    final basis in every projected layer (it was projected against it), and the summary
    reports what clients sent and what the server keeps."""
    runs = {}
    for rounds in (2, 3):
        _CACHE.clear()  # the experiment cache's key leaves num_rounds out (exp.cfg is reused)
        run_dir, summary = run_experiment(tmp_path / str(rounds), *FOT, f"num_rounds={rounds}")
        runs[rounds] = (load_checkpoint(run_dir / "checkpoint.npz"), summary)
    (before, _), (after, summary) = runs[2], runs[3]
    basis = after["strategy_state"]["own"]["basis"]
    assert set(basis) == {"features.1", "head"}
    for layer, u in basis.items():
        key = f"{layer}.weight"
        delta = after["arrays"][key].numpy() - before["arrays"][key].numpy()
        assert np.abs(delta).max() > 1e-3  # the layer did move
        assert np.abs(delta @ u).max() < 1e-4 * np.abs(delta).max() + 1e-6
    kept = summary["strategy"]
    assert kept["fot_extensions"] >= 1
    assert kept["fot_basis_bytes"] == 4 * sum(
        kept["fot_basis_dim"][k] * kept["fot_basis_width"][k] for k in basis)
    history = summary["history"]
    sent = [r["baselines"].get("fot-bytes-up/mean", 0.0) * r["clients_trained"] for r in history]
    assert sent[0] == 0.0 and max(sent) > 0  # nothing before the first task end
    # bytes up count the factors: a reporting round carries more than its updates
    per_update = history[0]["bytes_up"] / history[0]["clients_trained"]
    for row, factors in zip(history, sent, strict=True):
        assert row["bytes_up"] >= row["clients_trained"] * per_update + factors


def test_capped_representations_are_checked(setup):
    _, strategy, prev = setup
    capped = build_strategy(compose(*FOT, "strategy.max_rank=2")["strategy"])
    capped.initial_arrays(get_experiment(compose(*FOT)), prev)

    def reason(strat, record):
        rep = ArrayRecord({k: Array(np.asarray(v)) for k, v in record.items()})
        return strat.check_reply(make_reply(prev, None, {wire.FOT_REPRESENTATION: rep}))

    tail = "head" + wire.FOT_TAIL
    ok = {"head": np.ones((128, 2), np.float32), tail: np.array([3.0])}
    assert reason(capped, ok) is None
    assert "more than strategy.max_rank=2" in reason(capped, {"head": np.ones((128, 3))})
    assert "strategy.max_rank is 0" in reason(strategy, ok)  # uncapped: no tails expected
    assert "one finite energy >= 0" in reason(capped, {**ok, tail: np.array([-1.0])})
    assert "unexpected layer 'nope'" in reason(capped, {"nope" + wire.FOT_TAIL: np.ones(1)})


def test_fake_grid_run_with_a_rank_cap_sends_at_most_k_columns(tmp_path):
    """strategy.max_rank=2: every task end's factors hold <= 2 columns per layer (bytes up
    bounded by 4 * 2 * sum_l d_l plus 8 bytes per cut layer) and the basis still grows."""
    _CACHE.clear()
    run_dir, summary = run_experiment(tmp_path, *FOT, "num_rounds=3", "strategy.max_rank=2")
    kept = summary["strategy"]
    dims = kept["fot_basis_dim"]
    assert kept["fot_extensions"] >= 1 and sum(kept["fot_basis_width"].values()) > 0
    bound = 4 * 2 * sum(dims.values()) + 8 * len(dims)
    sent = [r["baselines"].get("fot-bytes-up/max", 0.0) for r in summary["history"]]
    assert max(sent) > 0 and max(sent) <= bound
