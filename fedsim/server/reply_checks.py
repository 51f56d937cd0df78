"""Validation of client replies before aggregation (DESIGN.md rule 5)."""

from __future__ import annotations

import math

import numpy as np
from flwr.app import ArrayRecord, Message

from fedsim import wire
from fedsim.transport.arrays import to_numpy


def error_summary(reason: str, limit: int = 200) -> str:
    """One reproducible line from an error reply's reason.

    Flower/Ray wrap a ClientApp exception in a multi-line text that names process ids and
    actor addresses; keep the exception's own message (after the last ``Message:``), else
    the last non-empty line.
    """
    text = str(reason)
    if "Message:" in text:
        text = text.rsplit("Message:", 1)[1]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = (lines[-1] if lines else "no reason given").rstrip(">'\"").strip()
    return line[:limit]


def check_train_reply(
    reply: Message, reference: ArrayRecord | None, *, side_records: tuple[str, ...] = ()
) -> str | None:
    """Return why a train reply is unusable (naming the key), or None when it is fine.

    Checks: no error; exactly the expected arrays (same keys, shapes) when ``reference`` is
    given; finite tensors; a MetricRecord with a positive integer ``num-examples``.
    ``side_records`` names further ArrayRecords a strategy accepts beside the update (it
    checks their content itself, e.g. FOT's representation factors).
    """
    try:
        return _check(reply, reference, side_records)
    except Exception as exc:  # noqa: BLE001 - a reply must never crash the server
        return f"unreadable reply ({type(exc).__name__}: {exc})"


def check_eval_reply(reply: Message) -> str | None:
    """Return why an evaluation reply is unusable (naming the key), or None when it is fine."""
    if reply.has_error():
        return f"error reply: {error_summary(reply.error.reason)}"
    if wire.TASK_EVAL not in reply.content:
        return f"missing record '{wire.TASK_EVAL}'"
    metrics = reply.content.metric_records.get(wire.METRICS)
    if metrics is None or wire.EVAL_ACC not in metrics:
        return f"missing metric '{wire.METRICS}.{wire.EVAL_ACC}'"
    return None


def _check(
    reply: Message, reference: ArrayRecord | None, side_records: tuple[str, ...] = ()
) -> str | None:
    if reply.has_error():
        return f"error reply: {error_summary(reply.error.reason)}"
    content = reply.content
    metrics = content.metric_records.get(wire.METRICS)
    if metrics is None:
        return f"missing MetricRecord '{wire.METRICS}'"
    n = metrics.get(wire.NUM_EXAMPLES)
    if isinstance(n, bool) or not isinstance(n, int | float) or not math.isfinite(n) or n <= 0:
        return f"'{wire.NUM_EXAMPLES}' must be a positive number, got {n!r}"
    arrays = content.array_records.get(wire.ARRAYS)
    if arrays is None:
        return f"missing ArrayRecord '{wire.ARRAYS}'"
    if reference is not None:
        for kind, records, key in (
            ("ArrayRecord", content.array_records, wire.ARRAYS),
            ("MetricRecord", content.metric_records, wire.METRICS),
        ):
            extra_records = sorted(set(records.keys()) - {key, *side_records})
            if extra_records:
                return f"unexpected extra {kind} '{extra_records[0]}'"
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
        values = to_numpy(arrays[key])
        if not np.issubdtype(values.dtype, np.number):
            return f"'{wire.ARRAYS}.{key}' has non-numeric dtype {values.dtype}"
        if not np.all(np.isfinite(values)):
            return f"'{wire.ARRAYS}.{key}' contains NaN or Inf"
    return None
