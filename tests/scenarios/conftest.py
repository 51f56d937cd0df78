import numpy as np
import pytest

from fedsim.data.digits import DigitsSource


@pytest.fixture(scope="session")
def digits():
    return DigitsSource().load()


def signature(plan):
    """Everything a plan decides, as plain values (for same-seed / different-seed checks)."""
    return [
        (st.client_id, s.task_id, s.start_round, s.end_round, s.train_idx.tolist())
        for st in plan.streams
        for s in st.slots
    ] + [(t.task_id, t.classes, t.domain, t.test_idx.tolist()) for t in plan.tasks]


def unique_slots(plan):
    """Per client, the first slot of each task (recurrences reuse the same examples)."""
    out = []
    for st in plan.streams:
        seen = set()
        for s in st.slots:
            if s.task_id not in seen:
                seen.add(s.task_id)
                out.append((st.client_id, s))
    return out


def assert_disjoint_and_covering(plan, pools):
    """Client train sets are disjoint across clients and slots, and cover every pool."""
    got = np.concatenate([s.train_idx for _, s in unique_slots(plan)])
    assert len(got) == len(np.unique(got)), "an example is in two slots"
    want = np.unique(np.concatenate(list(pools)))
    assert np.array_equal(np.sort(got), want), "pools not covered exactly"
