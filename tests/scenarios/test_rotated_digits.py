"""The minimal domain-incremental (rotated digits) stream and its rotation transforms."""

import numpy as np
import pytest
import torch

from scenarios.domains import domain_transform
from scenarios.rotated_digits import rotated_digits

TRAIN = np.repeat(np.arange(10), 40)
TEST = np.repeat(np.arange(10), 9)


def test_plan_is_domain_incremental_disjoint_and_deterministic():
    plan = rotated_digits(train_labels=TRAIN, test_labels=TEST, seed=3, num_clients=4)
    again = rotated_digits(train_labels=TRAIN, test_labels=TEST, seed=3, num_clients=4)
    assert plan.kind == "domain_incremental" and plan.num_rounds == 8
    assert [t.domain for t in plan.tasks] == ["identity", "rot:90", "rot:180", "rot:270"]
    assert all(t.classes == tuple(range(10)) for t in plan.tasks)
    assert all(len(t.test_idx) == len(TEST) for t in plan.tasks)
    used = np.concatenate([s.train_idx for st in plan.streams for s in st.slots])
    assert len(used) == len(np.unique(used)) == len(TRAIN)  # disjoint and covering
    for a, b in zip(plan.streams, again.streams, strict=True):
        for sa, sb in zip(a.slots, b.slots, strict=True):
            np.testing.assert_array_equal(sa.train_idx, sb.train_idx)
    assert plan.active_clients(1) == [0, 1, 2, 3]
    assert [plan.streams[0].slots[k].start_round for k in range(4)] == [1, 3, 5, 7]


@pytest.mark.parametrize("angles", [[0, 45], [90, 90], []])
def test_bad_angles_raise(angles):
    with pytest.raises(ValueError, match="angles"):
        rotated_digits(train_labels=TRAIN, test_labels=TEST, seed=0, angles=angles)


def test_rotation_transform():
    x = torch.arange(4.0).reshape(1, 1, 2, 2)
    assert torch.equal(domain_transform("rot:180")(x), torch.flip(x, dims=(-2, -1)))
    assert torch.equal(domain_transform("rot:90")(domain_transform("rot:270")(x)), x)
    with pytest.raises(ValueError, match="unknown kind"):
        domain_transform("blur")
