"""Prototype maths against hand-computed values (strategies/prototypes.py)."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord

from strategies.prototypes import (
    Contribution,
    bank_from_arrays,
    check_contribution,
    contribution_from_arrays,
    contribution_to_arrays,
    empty_bank,
    mean_over_clients,
    merge_code_faithful,
    merge_online,
    with_bank,
    without_bank,
)


def contrib(classes, means, counts):
    return Contribution(
        np.asarray(classes, np.int64), np.asarray(means, float), np.asarray(counts, float)
    )


def bank_with_class0():
    means, counts = empty_bank(4, 2)
    means[0], counts[0] = [1.0, 1.0], 2.0
    return means, counts


# Client A holds classes 0, 1; client B holds 1, 2: partially overlapping, unequal counts.
A = contrib([0, 1], [[3.0, 3.0], [2.0, 0.0]], [2, 1])
B = contrib([1, 2], [[5.0, 3.0], [1.0, 1.0]], [3, 4])


def test_online_merge_matches_hand_computed_count_weighted_means():
    means, counts = merge_online(*bank_with_class0(), [A, B])
    # class 0: (2*[1,1] + 2*[3,3]) / 4; class 1: (1*[2,0] + 3*[5,3]) / 4; class 2: B's alone
    np.testing.assert_allclose(means[0], [2.0, 2.0])
    np.testing.assert_allclose(means[1], [17 / 4, 9 / 4])
    np.testing.assert_allclose(means[2], [1.0, 1.0])
    np.testing.assert_allclose(means[3], [0.0, 0.0])
    np.testing.assert_allclose(counts, [4, 4, 4, 0])


def test_online_merge_is_order_independent_and_pure():
    start = bank_with_class0()
    before = start[0].copy()
    ab = merge_online(*start, [A, B])
    ba = merge_online(*start, [B, A])
    np.testing.assert_allclose(ab[0], ba[0], rtol=1e-6)
    np.testing.assert_array_equal(start[0], before)


def test_online_merge_equals_mean_of_all_examples_over_rounds():
    rng = np.random.default_rng(0)
    data = {c: rng.normal(size=(int(rng.integers(1, 9)), 3)) for c in range(6)}
    means, counts = empty_bank(3, 3)
    for c, x in data.items():  # two rounds, each class once, classes 0..2 twice
        means, counts = merge_online(means, counts, [contrib([c % 3], [x.mean(0)], [len(x)])])
    for k in range(3):
        allx = np.concatenate([data[k], data[k + 3]])
        np.testing.assert_allclose(means[k], allx.mean(0), rtol=1e-5)
        assert counts[k] == len(allx)


def test_code_faithful_merge_exact_for_new_class_biased_for_known_class():
    means, counts = empty_bank(2, 1)
    means[1], counts[1] = [0.0], 30.0
    a = contrib([0, 1], [[2.0], [4.0]], [30, 30])
    b = contrib([0], [[4.0]], [10])
    p, n = merge_code_faithful(means, counts, [a, b])
    assert p[0, 0] == pytest.approx((30 * 2 + 10 * 4) / 40)  # new class: exact
    # known class, N = n = 30: the code moves the server by 1/4 of (m - p), not 1/2
    assert p[1, 0] == pytest.approx(1.0)
    assert merge_online(means, counts, [a, b])[0][1, 0] == pytest.approx(2.0)
    np.testing.assert_allclose(n, [40, 60])


def test_fedproto_mean_weighted_and_unweighted():
    w, counts = mean_over_clients(4, 2, [A, B], weighted=True)
    u, _ = mean_over_clients(4, 2, [A, B], weighted=False)
    np.testing.assert_allclose(w[1], [17 / 4, 9 / 4])
    np.testing.assert_allclose(u[1], [3.5, 1.5])
    np.testing.assert_allclose(w[0], [3.0, 3.0])  # only client A: its own mean
    np.testing.assert_allclose(counts, [2, 4, 4, 0])
    np.testing.assert_allclose(w[3], [0.0, 0.0])


def test_bank_and_contribution_round_trip_through_array_records():
    means, counts = merge_online(*bank_with_class0(), [A])
    weights = ArrayRecord({"w": Array(np.ones(3, np.float32))})
    both = with_bank(weights, means, counts)
    assert set(without_bank(both).keys()) == {"w"}
    m2, c2 = bank_from_arrays(both)
    np.testing.assert_allclose(m2, means)
    np.testing.assert_allclose(c2, counts)
    back = contribution_from_arrays(ArrayRecord(contribution_to_arrays(B)))
    np.testing.assert_array_equal(back.classes, B.classes)
    np.testing.assert_allclose(back.means, B.means)
    empty = ArrayRecord(contribution_to_arrays(contrib([], np.zeros((0, 2)), [])))
    assert check_contribution(empty, 4, 2) is None
    with pytest.raises(ValueError, match="no prototype bank"):
        bank_from_arrays(weights)


@pytest.mark.parametrize(
    "c, needle",
    [
        (contrib([0], np.zeros((1, 3)), [1]), "embedding dim 3, expected 2"),
        (contrib([9], np.zeros((1, 2)), [1]), "label outside 0..3"),
        (contrib([1, 1], np.zeros((2, 2)), [1, 1]), "repeated class"),
        (contrib([1], np.zeros((1, 2)), [0]), "counts must be > 0"),
        (contrib([1, 2], np.zeros((1, 2)), [1, 1]), "disagree"),
    ],
)
def test_check_contribution_names_the_problem(c, needle):
    reason = check_contribution(ArrayRecord(contribution_to_arrays(c)), 4, 2)
    assert reason is not None and needle in reason
