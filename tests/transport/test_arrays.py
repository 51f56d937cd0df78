"""Cheap reads of Flower Arrays: same values as ``Array.numpy()``, failures left to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord

from fedsim.transport.arrays import shared_state_dict, to_numpy

CASES = [
    np.random.default_rng(0).random((64, 64), dtype=np.float32),
    np.arange(10),
    np.asfortranarray(np.random.default_rng(1).random((3, 4))),
    np.array(3.0, dtype=np.float32),
    np.zeros((0, 5)),
    np.array([True, False]),
    np.random.default_rng(2).random((2, 3, 4)).astype(np.float16).transpose(2, 0, 1),
    np.array([[1, 2], [3, 4]], dtype=">i4"),
]


@pytest.mark.parametrize("values", CASES, ids=lambda a: f"{a.dtype}{a.shape}")
def test_to_numpy_equals_flowers_decode(values):
    arr = Array(values)
    got, ref = to_numpy(arr), arr.numpy()
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


def test_truncated_buffer_fails_like_flower():
    arr = Array(np.arange(10.0))
    broken = Array(dtype=arr.dtype, shape=arr.shape, stype=arr.stype, data=arr.data[:-8])
    with pytest.raises(ValueError):
        to_numpy(broken)


def test_lying_shape_field_is_ignored_like_flower():
    """The payload's own header decides, as with np.load (validation compares shapes)."""
    arr = Array(np.arange(6.0).reshape(2, 3))
    liar = Array(dtype=arr.dtype, shape=(6,), stype=arr.stype, data=arr.data)
    assert to_numpy(liar).shape == (2, 3) == liar.numpy().shape


def test_shared_state_dict_decodes_one_record_once():
    rec = ArrayRecord({"w": Array(np.ones((2, 2), dtype=np.float32))})
    first = shared_state_dict(rec)
    assert shared_state_dict(rec) is first
    torch.testing.assert_close(first["w"], torch.ones(2, 2))
    other = ArrayRecord({"w": Array(np.zeros((2, 2), dtype=np.float32))})
    assert shared_state_dict(other) is not first
    torch.testing.assert_close(shared_state_dict(other)["w"], torch.zeros(2, 2))


def test_state_dict_record_equals_flowers_conversion_bytes_and_object_ids():
    import torch
    from flwr.app import ArrayRecord

    from fedsim.transport.arrays import encode, state_dict_record

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4))
    for _ in range(2):  # the second time the headers come from the cache
        sd = {k: v.clone() for k, v in model.state_dict().items()}  # incl. an int64 buffer
        want, got = ArrayRecord(sd), state_dict_record(sd)
        assert list(got) == list(want)
        for key in want:
            a, b = want[key], got[key]
            assert (b.dtype, tuple(b.shape), b.stype, b.data) == (
                a.dtype, tuple(a.shape), a.stype, a.data), key  # fmt: skip
        assert got.object_id == want.object_id
        torch.nn.init.normal_(model[0].weight)  # new values, same shapes
    odd = np.asfortranarray(np.arange(6.0).reshape(2, 3))  # not C-contiguous: np.save itself
    assert encode(odd).data == ArrayRecord([odd])[next(iter(ArrayRecord([odd])))].data
