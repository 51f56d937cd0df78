import math

import numpy as np
import pytest

from fedsim import metrics as m

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
    # task 0: max(0.90, 0.60) - 0.50 = 0.40 ; task 1: max(0.10, 0.80) - 0.70 = 0.10
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
