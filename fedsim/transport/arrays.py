"""Reading and writing Flower ``Array``/``ArrayRecord`` payloads cheaply.

Flower stores an ``Array`` as the bytes of ``np.save`` and decodes it with ``np.load`` on every
``.numpy()`` call, which parses the ``.npy`` header with ``ast.literal_eval`` (~25 us an array).
The server reads every reply array twice besides aggregation (validation, update norms) and
every client of a pack decodes the same global model; these helpers avoid the repeated work
without changing what is read.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from io import BytesIO
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord

_MAGIC = b"\x93NUMPY"
_HEADERS: dict[bytes, tuple[np.dtype, tuple[int, ...], bool]] = {}
_MAX_HEADERS = 4096


def _header(data: bytes) -> tuple[int, tuple[np.dtype, tuple[int, ...], bool]] | None:
    """Return (offset of the payload, (dtype, shape, fortran_order)) of an .npy buffer."""
    if len(data) < 10 or data[:6] != _MAGIC:
        return None
    major = data[6]
    if major == 1:
        end = 10 + int.from_bytes(data[8:10], "little")
    elif major == 2:
        end = 12 + int.from_bytes(data[8:12], "little")
    else:
        return None
    head = bytes(data[:end])
    parsed = _HEADERS.get(head)
    if parsed is None:
        fh = BytesIO(head)
        np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if major == 1 else (
            np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(fh)
        if dtype.hasobject:
            return None
        parsed = (dtype, tuple(int(s) for s in shape), bool(fortran))
        if len(_HEADERS) < _MAX_HEADERS:
            _HEADERS[head] = parsed
    return end, parsed


def to_numpy(array: Array) -> np.ndarray:
    """Decode an ``Array`` like ``array.numpy()`` does, as a read-only view of its bytes.

    Headers are parsed once per distinct header; anything unusual (not the numpy stype, a
    truncated buffer, object dtypes) goes through ``array.numpy()`` and its errors.
    """
    data = array.data
    found = _header(data) if array.stype == "numpy.ndarray" else None
    if found is None:
        return array.numpy()
    offset, (dtype, shape, fortran) = found
    count = math.prod(shape)
    if len(data) - offset != count * dtype.itemsize:
        return array.numpy()
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    if fortran:
        return flat.reshape(shape[::-1]).T
    return flat.reshape(shape)


_LAST: list[Any] = [None, None]


def shared_state_dict(record: ArrayRecord) -> OrderedDict:
    """``record.to_torch_state_dict()``, decoded once for consecutive calls with one record.

    The clients of a pack share one global-model ``ArrayRecord`` object; ``load_state_dict``
    copies values into the model, so the decoded tensors can be shared. The cache holds the
    last record (by identity) only.
    """
    if _LAST[0] is not record:
        _LAST[0], _LAST[1] = record, record.to_torch_state_dict()
    return _LAST[1]


_SAVED: dict[tuple[str, tuple[int, ...]], bytes] = {}


def encode(ndarray: np.ndarray) -> Array:
    """``Array(ndarray)`` with the same bytes (``np.save``'s), without ``np.save`` per call.

    The ``.npy`` header depends only on dtype and shape: the first array of a (dtype, shape)
    is saved with ``np.save`` and its header kept; later ones are that header plus the raw
    C-order bytes - exactly what ``np.save`` writes for a C-contiguous array.
    """
    arr = np.asarray(ndarray)
    key = (arr.dtype.str, tuple(arr.shape))
    header = _SAVED.get(key) if arr.flags.c_contiguous and not arr.dtype.hasobject else None
    if header is None:
        buffer = BytesIO()
        np.save(buffer, arr, allow_pickle=False)
        data = buffer.getvalue()
        if arr.flags.c_contiguous and not arr.dtype.hasobject and len(_SAVED) < _MAX_HEADERS:
            _SAVED[key] = data[: len(data) - arr.nbytes]
    else:
        data = header + arr.tobytes()
    return Array(dtype=str(arr.dtype), shape=tuple(arr.shape), stype="numpy.ndarray", data=data)


def state_dict_record(state_dict: Mapping[str, Any]) -> ArrayRecord:
    """``ArrayRecord(state_dict)`` of CPU tensors, without ``np.save`` per array.

    Same keys, bytes and object ids as Flower's own conversion (a ClientApp's reply; tested).
    """
    record = ArrayRecord()
    for key, value in state_dict.items():
        record[key] = encode(value.detach().numpy())
    return record
