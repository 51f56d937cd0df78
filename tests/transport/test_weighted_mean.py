"""fedsim's FedAvg mean (fedsim.transport.weighted_mean) against Flower's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, MetricRecord, RecordDict
from flwr.serverapp.strategy import strategy_utils

from fedsim.transport import weighted_mean


def _replies(rng: np.random.Generator, n: int, dtype: str, fortran: bool) -> list[RecordDict]:
    rows, cols = (int(v) for v in rng.integers(1, 9, size=2))
    shapes = {"w": (rows, cols), "b": (cols,), "s": ()}
    out = []
    for _ in range(n):
        arrays = {}
        for key, shape in shapes.items():
            value = np.asarray(rng.normal(size=shape) * 10).astype(dtype)
            arrays[key] = Array(np.asfortranarray(value) if fortran else value)
        weight = int(rng.integers(1, 500)) if rng.random() < 0.5 else float(rng.random() + 1e-3)
        out.append(RecordDict({"arrays": ArrayRecord(arrays),
                               "metrics": MetricRecord({"num-examples": weight})}))  # fmt: skip
    return out


@pytest.mark.parametrize("seed", range(40))
def test_the_mean_equals_flowers_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    dtype = ["float32", "float64", "int64", "float16"][seed % 4]
    replies = _replies(rng, int(rng.integers(1, 30)), dtype, fortran=seed % 5 == 0)
    theirs = strategy_utils.aggregate_arrayrecords(replies, "num-examples")
    ours = weighted_mean.aggregate_arrayrecords(replies, "num-examples")
    assert list(ours) == list(theirs)
    for key in theirs:
        a, b = theirs[key].numpy(), ours[key].numpy()
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


def test_the_mean_by_definition():
    """sum_k (n_k / sum n) * x_k, written from McMahan et al. (2017), eq. of FedAvg."""
    rng = np.random.default_rng(7)
    replies = _replies(rng, 12, "float64", fortran=False)
    ours = weighted_mean.aggregate_arrayrecords(replies, "num-examples")
    n = np.array([r["metrics"]["num-examples"] for r in replies], dtype=np.float64)
    for key in ours:
        stacked = np.stack([r["arrays"][key].numpy() for r in replies])
        expected = np.tensordot(n / n.sum(), stacked, axes=1)
        np.testing.assert_allclose(ours[key].numpy(), expected, rtol=1e-12, atol=1e-12)


def test_install_puts_it_where_fedavg_calls_it():
    from flwr.serverapp.strategy import fedavg

    original = fedavg.aggregate_arrayrecords
    try:
        assert weighted_mean.install() and weighted_mean.install()
        assert fedavg.aggregate_arrayrecords is weighted_mean.aggregate_arrayrecords
    finally:
        fedavg.aggregate_arrayrecords = original
