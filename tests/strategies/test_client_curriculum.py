"""Client-level curriculum selection: hand-computed ranking and pacing; a real run with FedProx."""


import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from strategies.client_curriculum import ClientCurriculum
from tests.cli.invoke import run_fedsim
from tests.conftest import SMALL
from tests.fake_grid import run_experiment

SCORES = {0: 0.9, 1: 0.1, 2: 0.5, 3: 0.3, 4: 0.7, 5: 0.2, 6: 0.8, 7: 0.4, 8: 0.6, 9: 1.0}


def selection(ordering="curriculum", **kw):
    sel = ClientCurriculum(ordering=ordering, seed=0, **kw)
    sel.bind(num_rounds=10, num_clients=10)
    sel.observe(0, {c: {"difficulty": s} for c, s in SCORES.items()})
    return sel


def test_rank_by_reported_difficulty():
    rng = np.random.default_rng(0)
    assert selection().rank(list(range(10)), rng) == [1, 5, 3, 7, 2, 8, 4, 6, 0, 9]
    assert selection("anti").rank(list(range(10)), rng) == [9, 0, 6, 4, 8, 2, 7, 3, 5, 1]


def test_first_pool_is_the_paced_easiest_clients_swept_without_replacement():
    # 10 clients, 30% per round -> m = 3, budget T = 10 rounds * 3 = 30 updates;
    # linear a=0.8, b=0.2 -> the first sweep's pool is g(0) = 0.2 * 10 = 2 clients: {1, 5}
    sel = selection(fraction=0.3, pacing="linear", pacing_a=0.8, pacing_b=0.2)
    first = sel.select(1, list(range(10)))
    assert first == [1, 5]
    assert sel.scalars()["client_pool_fraction"] == pytest.approx(0.2)
    assert "selected: 1 (0.100), 5 (0.200)" in sel.explain()
    # second sweep after 2 updates: g(2) = int(8/24 * 2 + 2) = 2 -> the same two again
    assert sel.select(2, list(range(10))) == [1, 5]
    # step pacing a=b=1 is the paper's "curriculum off": every active client once per sweep
    off = selection("random", fraction=0.3, pacing="step", pacing_a=1.0, pacing_b=1.0)
    seen = [c for r in range(1, 5) for c in off.select(r, list(range(10)))]
    assert sorted(seen[:10]) == list(range(10))  # 3 + 3 + 3 + 1: a full sweep
    assert len(seen[:9]) == len(set(seen[:9]))


def test_unscored_clients_get_the_mean_and_inactive_clients_are_skipped():
    sel = ClientCurriculum(ordering="curriculum", pacing="step", pacing_a=1.0, pacing_b=1.0)
    sel.bind(num_rounds=4, num_clients=4)
    sel.observe(1, {0: {"difficulty": 1.0}, 1: {"difficulty": 3.0}})
    ranked = sel.rank([0, 1, 2, 3], np.random.default_rng(0))
    assert ranked[0] == 0 and ranked[-1] == 1  # 2, 3 get the mean 2.0
    assert sel.select(1, [0, 2]) == [0, 2]


def test_same_seed_same_cohorts():
    a = selection(fraction=0.3)
    b = selection(fraction=0.3)
    assert [a.select(r, list(range(10))) for r in range(1, 8)] == [
        b.select(r, list(range(10))) for r in range(1, 8)
    ]


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"pacing_a": 0}, "pacing_a"),
        ({"pacing_b": 1.5}, "pacing_b"),
        ({"pacing": "cubic"}, "pacing"),
        ({"ordering": "hardest"}, "ordering"),
    ],
)
def test_bad_parameters(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        ClientCurriculum(**kwargs)


@pytest.mark.integration  # a whole run (fake grid, real ServerApp body and ClientApp)
def test_client_curriculum_with_fedprox_and_data_curriculum_in_a_real_run(tmp_path):
    run_dir, summary = run_experiment(
        tmp_path,
        *SMALL,
        "strategy=fedprox",
        "selection=client_curriculum",
        "curriculum=data_curriculum",
        "federation.fraction_train=0.5",
    )
    history = summary["history"]
    assert summary["rejected_replies"] == 0
    # round 1: budget 3 rounds * 2 = 6 updates, linear b = 0.2 -> int(0.2 * active) clients
    assert history[0]["curriculum"]["client_pool_fraction"] <= 0.5
    assert all("sweep" in r["selection_why"] for r in history)
    assert any(0 < r["curriculum"].get("curriculum-pool", 0) < 1 for r in history)
    assert all(r["curriculum"]["difficulty"] > 0 for r in history if r["clients_trained"])
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    expected = {
        "curriculum/client_pool_fraction",
        "curriculum/difficulty",
        "curriculum/curriculum-pool",
        "curriculum/client_updates",
    }
    assert expected <= tags, expected - tags
    assert "curriculum/selection" in " ".join(acc.Tags()["tensors"])
    assert "curriculum/client_difficulty_distribution" in acc.Tags()["histograms"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["curriculum=data_curriculum", "curriculum.data.a=0"], "pacing_a"),
        (["curriculum=data_curriculum", "curriculum.data.pacing=cubic"], "pacing"),
        (["selection=client_curriculum", "selection.pacing_b=2"], "pacing_b"),
    ],
)
def test_bad_pacing_parameters_one_line_exit_2(args, needle, tmp_path):
    res = run_fedsim(*args, f"output.root={tmp_path / 'runs'}", cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("fedsim: error:"), res.stderr
    assert needle in lines[0]


def test_checkpointed_mid_sweep_the_selection_continues_identically():
    """Scores, sweep, remaining pool and update count survive a checkpoint (data only)."""
    from fedsim.server.checkpoint_codec import decode, encode

    a = selection(fraction=0.2)
    active = list(range(10))
    for rnd in range(1, 10):
        cohort = a.select(rnd, active)
        a.observe(rnd, {c: {"difficulty": SCORES[c] + rnd} for c in cohort})
        if rnd >= 3 and a.remaining:
            break
    assert a.remaining and a.sweeps > 1, "the checkpoint must fall mid-sweep"
    b = selection(fraction=0.2)
    b.load_state_dict(decode(*encode(a.state_dict())))
    fresh = selection(fraction=0.2)  # what a resume without the selection state would do
    diverged = False
    cut = rnd
    for rnd in range(cut + 1, cut + 7):
        got, want = b.select(rnd, active), a.select(rnd, active)
        assert got == want and b.explain() == a.explain()
        diverged |= fresh.select(rnd, active) != want
        for s in (a, b):
            s.observe(rnd, {c: {"difficulty": SCORES[c] - rnd} for c in want})
    assert diverged  # the state matters
