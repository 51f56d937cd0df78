"""Size of the clients' updates: ``||w_k - theta||_2`` per train reply (for TensorBoard)."""

from __future__ import annotations

import math

import numpy as np
from flwr.app import ArrayRecord, Message

from fedsim import wire
from fedsim.transport.arrays import to_numpy


def update_norms(replies: list[Message], reference: ArrayRecord | None) -> list[float]:
    """L2 norm of each reply's model minus the global model ``reference``.

    Only arrays present in both with the same shape count (a strategy whose replies carry
    something other than the model yields no norm for that reply). Returns one finite value
    per reply that shares at least one array with ``reference``.
    """
    if reference is None:
        return []
    ref = {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in reference.items()}
    norms = []
    for reply in replies:
        arrays = reply.content.array_records.get(wire.ARRAYS)
        if arrays is None:
            continue
        total, shared = 0.0, 0
        for key, arr in arrays.items():
            base = ref.get(key)
            if base is None or tuple(arr.shape) != base.shape:
                continue
            diff = np.asarray(to_numpy(arr), dtype=np.float64) - base
            total += float(np.dot(diff.ravel(), diff.ravel()))
            shared += 1
        if shared and math.isfinite(total):
            norms.append(math.sqrt(total))
    return norms
