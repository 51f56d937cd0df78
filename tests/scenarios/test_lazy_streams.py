"""Lazily built client streams: a tuple's behaviour, built on first access, pickled as a recipe."""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
import pytest

from fedsim.config.validate import validate_objects
from fedsim.errors import ConfigError
from scenarios.types import ClientStream, LazyStreams, ScenarioPlan, Task, TaskSlot
from tests.conftest import compose


def make_stream(cid: int, *, rounds: int = 3, bad_at: int = -1) -> ClientStream:
    if cid == bad_at:
        raise ValueError(f"no data for client {cid}")
    start = 1 + cid % 2
    return ClientStream(cid, (TaskSlot(0, start, start + rounds - 1, np.arange(cid, cid + 4)),))


def plan_of(streams) -> ScenarioPlan:
    return ScenarioPlan("lazy", (Task(0, (0, 1), np.arange(5)),), streams, 4, 10)


def lazy_plan(*, train_labels, test_labels, seed, num_clients=10, bad_at=-1) -> ScenarioPlan:
    """A scenario target for the config (module-level, so it is importable by name)."""
    return plan_of(LazyStreams(num_clients, partial(make_stream, bad_at=bad_at)))


def test_behaves_like_the_eager_tuple():
    lazy = LazyStreams(6, make_stream)
    eager = tuple(make_stream(c) for c in range(6))
    assert len(lazy) == 6 and lazy.num_built == 0
    assert lazy[4].client_id == 4 and lazy[-1].client_id == 5 and lazy.num_built == 2
    assert [s.client_id for s in lazy[1:5:2]] == [1, 3]
    assert lazy[4] is lazy[4]  # built once, kept
    assert plan_of(lazy).active_clients(1) == plan_of(eager).active_clients(1) == [0, 2, 4]
    assert plan_of(lazy).num_clients == 6 and lazy.num_built == 6
    with pytest.raises(IndexError):
        lazy[6]


def test_pickles_the_recipe_not_the_built_streams():
    lazy = LazyStreams(100_000, partial(make_stream, rounds=2))
    lazy[7]
    copy = pickle.loads(pickle.dumps(lazy))
    assert len(copy) == 100_000 and copy.num_built == 0
    np.testing.assert_array_equal(copy[7].slots[0].train_idx, lazy[7].slots[0].train_idx)


def test_factory_must_return_the_asked_client():
    lazy = LazyStreams(3, lambda cid: make_stream(0))
    assert lazy[0].client_id == 0
    with pytest.raises(ValueError, match="returned client 0 for 1"):
        lazy[1]
    with pytest.raises(ValueError):
        LazyStreams(0, make_stream)


def _cfg(**scenario) -> dict:
    cfg = compose()
    cfg["scenario"] = {"_target_": f"{__name__}.lazy_plan", "name": "lazy", **scenario}
    cfg["log"]["matrix_clients"] = []
    return cfg


def test_validation_builds_every_stream_and_names_a_faulty_one():
    validate_objects(_cfg(num_clients=12))  # builds all 12 without error
    with pytest.raises(ConfigError, match="scenario: a client stream could not be built: no "
                                          "data for client 9"):
        validate_objects(_cfg(num_clients=12, bad_at=9))


def test_benchmark_workload_is_lazy_and_matches_its_index_function():
    from benchmarks.workload import client_indices, iid_clients

    labels = np.arange(200) % 10
    plan = iid_clients(train_labels=labels, test_labels=labels[:50], seed=3, num_clients=10**6)
    assert plan.num_clients == 10**6 and plan.streams.num_built == 0
    np.testing.assert_array_equal(
        plan.streams[123_456].slots[0].train_idx, client_indices(3, 123_456, 200, 32)
    )


def uniform_stream(cid: int, *, rounds: int = 3, gap_at: int = -1) -> ClientStream:
    """Every client trains rounds 1..rounds (client ``gap_at`` skips round 2)."""
    if cid == gap_at:
        return ClientStream(cid, (TaskSlot(0, 1, 1, np.arange(4)), TaskSlot(0, 3, rounds,
                                                                             np.arange(4))))
    return ClientStream(cid, (TaskSlot(0, 1, rounds, np.arange(cid, cid + 4)),))


def test_a_stated_schedule_answers_like_the_scan_without_building_streams():
    n = 50
    lazy = LazyStreams(n, uniform_stream, active_rounds=(1, 3))
    eager = tuple(uniform_stream(c) for c in range(n))
    for rnd in range(0, 6):
        got = plan_of(lazy).active_clients(rnd)
        assert list(got) == plan_of(eager).active_clients(rnd), rnd
    assert lazy.num_built == 0
    assert pickle.loads(pickle.dumps(lazy)).active_rounds == (1, 3)
    with pytest.raises(ValueError, match="active_rounds"):
        LazyStreams(n, uniform_stream, active_rounds=(0, 3))


def test_a_stated_schedule_is_checked_on_a_bounded_sample():
    big = LazyStreams(10**6, uniform_stream, active_rounds=(1, 3))
    plan_of(big).build_all()
    assert big.num_built <= 1024 and 0 in big._built and 10**6 - 1 in big._built
    wrong = LazyStreams(10**6, partial(uniform_stream, gap_at=10**6 - 1), active_rounds=(1, 3))
    with pytest.raises(ValueError, match="client 999999's stream trains in rounds"):
        plan_of(wrong).build_all()


def test_selection_from_a_range_draws_the_same_cohort_as_from_the_list():
    from strategies.selection import UniformSelection

    sel = UniformSelection(seed=5, fraction=0.01, min_clients=1)
    for rnd in (1, 2, 7):
        assert sel.select(rnd, range(20_000)) == sel.select(rnd, list(range(20_000)))
    assert sel.select(1, range(20_000)) != sel.select(2, range(20_000))
