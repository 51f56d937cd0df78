"""Per-client heterogeneity knobs (scenarios/streams.py) through the class-incremental generator."""

from collections import Counter

import numpy as np
import pytest

from scenarios.class_incremental import class_incremental
from tests.scenarios.conftest import assert_disjoint_and_covering, signature, unique_slots


def plan(digits, **kw):
    kw.setdefault("seed", 0)
    return class_incremental(train_labels=digits.y_train, test_labels=digits.y_test, **kw)


def pools(digits, p):
    return [np.flatnonzero(np.isin(digits.y_train, t.classes)) for t in p.tasks]


def test_k_of_t_tasks_per_client_covers_every_task(digits):
    p = plan(digits, num_clients=7, tasks_per_client=2, num_tasks=5)
    for st in p.streams:
        ids = [s.task_id for s in st.slots]
        assert len(ids) == 2 and len(set(ids)) == 2
    holders = Counter(s.task_id for st in p.streams for s in st.slots)
    assert set(holders) == set(range(5))
    assert max(holders.values()) - min(holders.values()) <= 1, "tasks dealt unevenly"
    assert_disjoint_and_covering(p, pools(digits, p))
    overlap = [len({s.task_id for s in a.slots} & {s.task_id for s in b.slots})
               for a in p.streams for b in p.streams if a.client_id < b.client_id]
    assert min(overlap) == 0 and max(overlap) >= 1, "k of T should give partial overlap"


def test_durations_gaps_and_arrivals(digits):
    p = plan(digits, num_clients=10, rounds_per_task=2, duration_jitter=3, max_gap=2,
             max_arrival_delay=4)
    lengths, gaps = set(), set()
    for st in p.streams:
        assert 1 <= st.slots[0].start_round <= 5
        for a, b in zip(st.slots, st.slots[1:], strict=False):
            gaps.add(b.start_round - a.end_round - 1)
        for s in st.slots:
            lengths.add(s.end_round - s.start_round + 1)
    assert lengths <= {2, 3, 4, 5} and len(lengths) > 1
    assert gaps <= {0, 1, 2} and len(gaps) > 1
    # an absent client (in a gap) is not active in that round
    pairs = [(st, a, b) for st in p.streams
             for a, b in zip(st.slots, st.slots[1:], strict=False)
             if b.start_round > a.end_round + 1]
    st, a, b = pairs[0]
    assert st.client_id not in p.active_clients(a.end_round + 1)
    assert p.num_rounds == max(st.slots[-1].end_round for st in p.streams)


def test_leaving_clients_keep_at_least_one_slot(digits):
    p = plan(digits, num_clients=30, leave_fraction=1.0)
    lengths = [len(st.slots) for st in p.streams]
    assert all(1 <= n < 5 for n in lengths) and len(set(lengths)) > 1
    q = plan(digits, num_clients=30, leave_fraction=0.0)
    assert all(len(st.slots) == 5 for st in q.streams)


def test_recurrences_reuse_the_clients_examples_and_follow_the_power_law(digits):
    p = plan(digits, num_clients=40, recur_prob=1.0, recur_power=0.0)
    for st in p.streams:
        ids = [s.task_id for s in st.slots]
        assert len(ids) == 5 + 4, "one recurrence after each new task but the first"
        assert sorted(set(ids)) == list(range(5))
        first = {}
        for s in st.slots:
            if s.task_id in first:
                assert s.train_idx is first[s.task_id], "a recurrence reuses the same examples"
                assert s.start_round > first[s.task_id + 100]
            else:
                first[s.task_id] = s.train_idx
                first[s.task_id + 100] = s.end_round
    assert_disjoint_and_covering(p, pools(digits, p))

    def mean_age(power):
        q = plan(digits, num_clients=200, recur_prob=1.0, recur_power=power)
        ages = []
        for st in q.streams:
            ids = [s.task_id for s in st.slots]
            for i, t in enumerate(ids):
                if t in ids[:i]:
                    ages.append(i - max(j for j in range(i) if ids[j] == t))
        return np.mean(ages)

    assert mean_age(6.0) < mean_age(0.0) - 0.3, "a steeper power law recalls recent tasks"


def test_blurry_boundaries_keep_pools_disjoint_and_covered(digits):
    p = plan(digits, num_clients=5, blurry=0.2, order="shared")
    assert p.kind == "blurry_class_incremental"
    assert_disjoint_and_covering(p, pools(digits, p))
    for st in p.streams:
        for pos, s in enumerate(st.slots):
            own = np.isin(digits.y_train[s.train_idx], p.tasks[s.task_id].classes)
            if pos == 0:
                assert own.all()
            else:
                earlier = {c for e in st.slots[:pos] for c in p.tasks[e.task_id].classes}
                assert set(digits.y_train[s.train_idx[~own]].tolist()) <= earlier
                assert (~own).sum() > 0, "earlier classes must keep appearing"
        first = st.slots[0]
        full = plan(digits, num_clients=5, order="shared").streams[st.client_id].slots[0]
        assert len(first.train_idx) == pytest.approx(0.8 * len(full.train_idx), abs=1)


@pytest.mark.parametrize("method", ["dirichlet", "pathological", "shard"])
def test_label_skew_partitions(digits, method):
    p = plan(digits, num_clients=6, partition=method, alpha=0.1, labels_per_client=1,
             shards_per_client=1, classes_per_task=2)
    assert_disjoint_and_covering(p, pools(digits, p)) if method != "shard" else None
    fractions = []
    for _, s in unique_slots(p):
        counts = np.bincount(digits.y_train[s.train_idx], minlength=10)
        fractions.append(counts.max() / counts.sum())
    assert np.mean(fractions) > 0.75, "label skew: one class should dominate a slot"
    iid = plan(digits, num_clients=6)
    iid_frac = [np.bincount(digits.y_train[s.train_idx]).max() / len(s.train_idx)
                for _, s in unique_slots(iid)]
    assert np.mean(iid_frac) < 0.65


@pytest.mark.parametrize("method", ["linear", "square", "exponential"])
def test_quantity_skew_keeps_each_clients_size_rank_across_tasks(digits, method):
    p = plan(digits, num_clients=6, partition=method, order="per_client")
    sizes = np.array([[len(s.train_idx) for s in sorted(st.slots, key=lambda s: s.task_id)]
                      for st in p.streams])
    assert sizes.max() > 3 * sizes.min()
    ranks = np.argsort(np.argsort(sizes, axis=0), axis=0)
    assert (ranks == ranks[:, :1]).all(), "a big client is big in every task"
    assert_disjoint_and_covering(p, pools(digits, p))


def test_task_agnostic_flag_is_recorded(digits):
    assert plan(digits, task_agnostic=True).info["task_agnostic"] is True
    assert plan(digits).info["task_agnostic"] is False


def test_every_knob_changes_the_plan_and_seed_determinism(digits):
    base = dict(num_clients=8, tasks_per_client=3, duration_jitter=2, max_gap=1,
                leave_fraction=0.3, recur_prob=0.5, partition="dirichlet")
    a, b, c = plan(digits, **base), plan(digits, **base), plan(digits, seed=1, **base)
    assert signature(a) == signature(b)
    assert signature(a) != signature(c)


@pytest.mark.parametrize(
    "kw, text",
    [
        ({"tasks_per_client": 6}, "tasks_per_client = 6 exceeds num_tasks"),
        ({"tasks_per_client": 1, "num_clients": 3}, "some tasks would have no client"),
        ({"tasks_per_client": 0}, "tasks_per_client must be >= 1"),
        ({"leave_fraction": 1.5}, "leave_fraction must be in"),
        ({"recur_prob": -0.1}, "recur_prob must be in"),
        ({"recur_power": -1}, "recur_power must be >= 0"),
        ({"blurry": 1.0}, "blurry must be in"),
        ({"duration_jitter": -1}, "duration_jitter must be >= 0"),
        ({"max_gap": -2}, "max_gap must be >= 0"),
        ({"partition": "zipf"}, "partition must be one of"),
        ({"partition": "dirichlet", "alpha": 0}, "alpha must be > 0"),
        ({"partition": "pathological", "labels_per_client": 0}, "labels_per_client"),
        ({"bogus": 1}, "unexpected keyword argument 'bogus'"),
    ],
)
def test_invalid_knobs_raise_one_clear_error(digits, kw, text):
    with pytest.raises((ValueError, TypeError), match=text):
        plan(digits, **kw)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"max_arrival_delay": 3, "duration_jitter": 2, "max_gap": 2, "leave_fraction": 0.3},
        {"recur_prob": 1.0, "recur_power": 0.0, "tasks_per_client": 3},
    ],
)
def test_active_clients_equals_a_scan_of_every_stream(digits, kw):
    """The vectorised per-round index gives exactly what scanning the streams gives."""
    p = plan(digits, num_clients=30, **kw)
    for rnd in range(0, p.num_rounds + 2):
        scan = [s.client_id for s in p.streams if s.slot_at(rnd) is not None]
        assert p.active_clients(rnd) == scan
