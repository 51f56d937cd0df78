import math

import numpy as np
import pytest

from fedsim.metrics import continual as m

NAN = float("nan")

# Hand-computed example (T = 3). Rows: after task i; columns: task j.
A = np.array(
    [
        [0.90, 0.10, 0.05],
        [0.60, 0.80, 0.20],
        [0.50, 0.70, 0.85],
    ]
)
B = np.array([0.10, 0.12, 0.08])


def test_average_accuracy():
    assert m.average_accuracy(A) == pytest.approx((0.50 + 0.70 + 0.85) / 3)


def test_backward_transfer():
    # (0.50 - 0.90) + (0.70 - 0.80) over 2 tasks
    assert m.backward_transfer(A) == pytest.approx((-0.40 - 0.10) / 2)


def test_forward_transfer():
    # (A[0,1] - b1) + (A[1,2] - b2) over 2 tasks
    assert m.forward_transfer(A, B) == pytest.approx(((0.10 - 0.12) + (0.20 - 0.08)) / 2)


def test_forgetting_uses_max_over_earlier_rows_not_diagonal():
    # task 0: max(0.90, 0.60) - 0.50 = 0.40 ; task 1: max(0.80) - 0.70 = 0.10
    assert m.forgetting(A) == pytest.approx((0.40 + 0.10) / 2)


def test_forgetting_peak_after_diagonal():
    # accuracy on task 0 *rises* after task 1 then falls: forgetting counts from the peak 0.95,
    # while BWT compares with the diagonal 0.60.
    a = np.array([[0.60, 0.0, 0.0], [0.95, 0.7, 0.0], [0.55, 0.7, 0.9]])
    assert m.forgetting(a) == pytest.approx(((0.95 - 0.55) + 0.0) / 2)
    assert m.backward_transfer(a) == pytest.approx(((0.55 - 0.60) + 0.0) / 2)


def test_average_incremental_accuracy():
    expected = (0.90 + (0.60 + 0.80) / 2 + (0.50 + 0.70 + 0.85) / 3) / 3
    assert m.average_incremental_accuracy(A) == pytest.approx(expected)


def test_single_task_edge_case():
    one = np.array([[0.7]])
    assert m.average_accuracy(one) == pytest.approx(0.7)
    assert math.isnan(m.backward_transfer(one))
    assert math.isnan(m.forgetting(one))
    assert math.isnan(m.forward_transfer(one, np.array([0.1])))


def test_no_forgetting_gives_zero_and_positive_bwt():
    a = np.array([[0.5, 0.0], [0.8, 0.9]])
    assert m.forgetting(a) == pytest.approx(-0.3)  # improved: negative forgetting
    assert m.backward_transfer(a) == pytest.approx(0.3)


def test_nan_entries_are_ignored():
    a = np.array([[0.9, NAN], [NAN, 0.8]])
    assert m.average_accuracy(a) == pytest.approx(0.8)
    assert math.isnan(m.backward_transfer(a))
    assert math.isnan(m.forgetting(a))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="square"):
        m.average_accuracy(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="initial"):
        m.forward_transfer(A, np.zeros(2))


def test_mean_metrics_over_clients():
    out = m.mean_metrics([{"acc": 0.5, "bwt": NAN}, {"acc": 0.7, "bwt": -0.2}])
    assert out["acc"] == pytest.approx(0.6)
    assert out["bwt"] == pytest.approx(-0.2)


def test_forgetting_ignores_rows_before_the_task_was_learned():
    # The example: A[0, 1] = 0.8 is the "next task" cell (measured for FWT), high because
    # other clients taught task 1; it is not knowledge this learner had. f_0 = max(.9, .1) - .1,
    # f_1 = max(.5) - .2 -> (0.8 + 0.3) / 2 = 0.55 (the old formula gave 0.70).
    a = np.array([[0.9, 0.8, 0.0], [0.1, 0.5, 0.0], [0.1, 0.2, 0.6]])
    assert m.forgetting(a) == pytest.approx(0.55)
    np.testing.assert_allclose(m.forgetting_per_task(a), [0.8, 0.3])


# -- a second, independent implementation written from the definitions ------------------
def _ref_mean(values):
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else NAN


def _ref_metrics(a, b):
    """Loops straight from the formulas in the metrics module's docstring (0-based, T x T)."""
    t = len(a)
    acc = _ref_mean([a[t - 1][j] for j in range(t)])
    bwt = _ref_mean([a[t - 1][j] - a[j][j] for j in range(t - 1)])
    fwt = _ref_mean([a[j - 1][j] - b[j] for j in range(1, t)])
    per_task = []
    for j in range(t - 1):
        learned = [a[r][j] for r in range(j, t - 1) if not math.isnan(a[r][j])]
        if learned and not math.isnan(a[t - 1][j]):
            per_task.append(max(learned) - a[t - 1][j])
    forg = _ref_mean(per_task)
    aia = _ref_mean([_ref_mean([a[r][j] for j in range(r + 1)]) for r in range(t)])
    return {"acc": acc, "bwt": bwt, "fwt": fwt, "forgetting": forg, "aia": aia}


def _same(x, y):
    return (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-12)


def test_metrics_match_an_independent_implementation_on_random_matrices():
    rng = np.random.default_rng(20261201)
    checked = 0
    for _ in range(3000):
        t = int(rng.integers(1, 8))
        a = rng.random((t, t))
        b = rng.random(t)
        missing = rng.random((t, t)) < rng.choice([0.0, 0.1, 0.4])
        a[missing] = NAN
        b[rng.random(t) < 0.1] = NAN
        got = m.cl_metrics(a, b)
        want = _ref_metrics(a.tolist(), b.tolist())
        for key, value in want.items():
            assert _same(got[key], value), (key, a, b, got[key], value)
            checked += 1
    assert checked == 15000
