"""The global model's best round and final task boundary (issue 21), vs a second implementation."""

from types import SimpleNamespace

import numpy as np
import pytest

from fedsim.metrics.central import central_highlights, final_task_boundary


def stream(*ends: int) -> SimpleNamespace:
    return SimpleNamespace(slots=tuple(SimpleNamespace(end_round=e) for e in ends))


def reference(rounds, accs, b):
    """From the definitions: argmax (first on ties); the last evaluation at or before b."""
    r, a = np.asarray(rounds), np.asarray(accs, dtype=float)
    ok = np.isfinite(a)
    r, a = r[ok], a[ok]
    i = int(np.argmax(a))
    j = int(np.flatnonzero(r <= b)[-1])
    return (a[-1], r[-1]), (a[i], r[i]), (a[j], r[j])


def test_boundary_is_where_the_first_full_stream_ends():
    # default-like run: 3 tasks x 5 rounds, arrivals delayed 0..2; a leaver with 2 tasks
    streams = [stream(5, 10, 15), stream(6, 11, 16), stream(7, 12, 17), stream(3, 4), stream()]
    assert final_task_boundary(streams) == 15
    assert final_task_boundary([stream()]) is None


@pytest.mark.parametrize("seed", range(5))
def test_highlights_match_the_definition(seed):
    rng = np.random.default_rng(seed)
    rounds = list(range(1, 18))
    accs = rng.uniform(0, 1, size=len(rounds)).round(2)  # rounding makes ties likely
    accs[rng.integers(len(accs))] = np.nan
    got = central_highlights(rounds, accs.tolist(), 15)
    (last, lr), (best, br), (bnd, bdr) = reference(rounds, accs, 15)
    assert (got["last_central_acc"], got["last_central_round"]) == (last, lr)
    assert (got["best_central_acc"], got["best_central_round"]) == (best, br)
    assert (got["boundary_central_acc"], got["boundary_central_round"]) == (bnd, bdr)


def test_boundary_round_not_evaluated_uses_the_evaluation_before():
    got = central_highlights([2, 4, 6], [0.5, 0.7, 0.4], 5)
    assert got["boundary_central_round"] == 4 and got["boundary_central_acc"] == 0.7
    assert central_highlights([], [], 5)["best_central_acc"] is None
    assert central_highlights([6], [0.4], 5)["boundary_central_acc"] is None


def test_a_lazy_plan_with_a_schedule_answers_without_building_a_stream():
    from scenarios.types import ClientStream, LazyStreams, TaskSlot

    built = []

    def factory(cid):
        built.append(cid)
        return ClientStream(cid, (TaskSlot(0, 1, 3, np.arange(2)), TaskSlot(1, 4, 6, np.arange(2))))

    lazy = LazyStreams(1_000_000, factory, active_rounds=(1, 6))
    assert final_task_boundary(lazy) == 6 and built == []
    # the same number as building every stream (a small plan, no schedule stated)
    assert final_task_boundary(LazyStreams(50, factory)) == 6
