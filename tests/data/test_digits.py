"""The embedded digits: read from scikit-learn's CSV without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from fedsim.data.digits import DigitsSource, load_digits_arrays


def test_arrays_equal_sklearn_load_digits() -> None:
    from sklearn.datasets import load_digits

    images, target = load_digits_arrays()
    bunch = load_digits()
    assert images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(target, bunch.target)


def test_split_is_stratified_and_fixed() -> None:
    a = DigitsSource().load()
    b = DigitsSource().load()
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert len(a.y_train) + len(a.y_test) == 1797
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 40 and a.x_train.dtype == np.float32
    assert float(a.x_train.max()) == 1.0


def test_loading_does_not_import_sklearn() -> None:
    code = (
        "import sys; from fedsim.data.digits import DigitsSource; DigitsSource().load(); "
        "print('sklearn.datasets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
