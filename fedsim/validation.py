"""Validation of client replies before aggregation (DESIGN.md rule 5)."""

from __future__ import annotations

import math

import numpy as np
from flwr.app import ArrayRecord, Message

from fedsim import wire


def check_train_reply(reply: Message, reference: ArrayRecord | None) -> str | None:
    """Return why a train reply is unusable (naming the key), or None when it is fine.

    Checks: no error; exactly the expected arrays (same keys, shapes) when ``reference`` is
    given; finite tensors; a MetricRecord with a positive integer ``num-examples``.
    """
    if reply.has_error():
        return f"error reply: {reply.error.reason}"
    content = reply.content
    metrics = content.metric_records.get(wire.METRICS)
    if metrics is None:
        return f"missing MetricRecord '{wire.METRICS}'"
    n = metrics.get(wire.NUM_EXAMPLES)
    if not isinstance(n, int | float) or n <= 0 or not math.isfinite(float(n)):
        return f"'{wire.NUM_EXAMPLES}' must be a positive number, got {n!r}"
    arrays = content.array_records.get(wire.ARRAYS)
    if arrays is None:
        return f"missing ArrayRecord '{wire.ARRAYS}'"
    if reference is not None:
        missing = set(reference.keys()) - set(arrays.keys())
        extra = set(arrays.keys()) - set(reference.keys())
        if missing:
            return f"'{wire.ARRAYS}' lacks key '{sorted(missing)[0]}'"
        if extra:
            return f"'{wire.ARRAYS}' has unexpected key '{sorted(extra)[0]}'"
        for key in reference.keys():
            if tuple(arrays[key].shape) != tuple(reference[key].shape):
                return (
                    f"'{wire.ARRAYS}.{key}' has shape {tuple(arrays[key].shape)}, "
                    f"expected {tuple(reference[key].shape)}"
                )
    for key in arrays.keys():
        if not np.all(np.isfinite(arrays[key].numpy())):
            return f"'{wire.ARRAYS}.{key}' contains NaN or Inf"
    return None
