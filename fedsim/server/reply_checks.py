"""Validation of client replies before aggregation (DESIGN.md rule 5)."""

from __future__ import annotations

import math

import numpy as np
from flwr.app import ArrayRecord, Message

from fedsim import wire
from fedsim.errors import ProtocolError
from fedsim.transport.arrays import to_numpy

REPLY_KEYS = {
    "train": wire.TRAIN_REPLY_KEYS,
    "evaluate": wire.EVALUATE_REPLY_KEYS,
    # SecAgg+: the arrays left as the masked vector; the metrics stay
    "secure train": tuple(k for k in wire.TRAIN_REPLY_KEYS if k[0] != "array"),
}


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


def missing_protocol_key(reply: Message, keys) -> str | None:
    """The first required key a reply lacks (``record`` or ``record.item``); None if complete.

    ``keys`` is one of ``fedsim.wire``'s ``*_REPLY_KEYS``; an error reply lacks nothing (it is
    a failure, not a protocol violation).
    """
    if reply.has_error():
        return None
    content = reply.content
    kinds = {
        "array": content.array_records,
        "metric": content.metric_records,
        "config": content.config_records,
    }
    for kind, record, item in keys:
        records = kinds[kind]
        if record not in records:
            return record
        if item is not None and item not in records[record]:
            return f"{record}.{item}"
    return None


def require_protocol(reply: Message, kind: str, client_id: int, node_id: int | None) -> None:
    """Raise :class:`ProtocolError` naming the node and the key a ``kind`` reply lacks.

    Used on the deployment engine, where a node may run someone else's ClientApp: a reply
    without a required key means the node does not speak the protocol, and dropping its
    replies would let a run "complete" without them.
    """
    key = missing_protocol_key(reply, REPLY_KEYS[kind])
    if key is None:
        return
    where = f"SuperNode {node_id} (client {client_id})" if node_id is not None else (
        f"client {client_id}"
    )
    raise ProtocolError(
        f"{where} does not speak fedsim client protocol {wire.PROTOCOL_VERSION}: its {kind} "
        f"reply lacks '{key}' (docs/deployment.md, 'Foreign clients')"
    )


def require_same_metrics(
    kind: str, replies: list[tuple[int, Message]], node_of_client: dict[int, int] | None
) -> None:
    """Raise :class:`ProtocolError` unless every reply carries the same metric keys.

    Flower's aggregation refuses replies whose MetricRecords differ; on the deployment engine
    the odd one out is named (node, client and the first key it lacks or adds).
    """
    if len(replies) < 2:
        return
    keys = {cid: set(r.content[wire.METRICS].keys()) for cid, r in replies}
    union = set().union(*keys.values())
    for cid, mine in sorted(keys.items()):
        if mine != union:
            nodes = node_of_client or {}
            key = sorted(union - mine)[0]
            other = min(c for c, theirs in keys.items() if key in theirs)
            raise ProtocolError(
                f"SuperNode {nodes.get(cid)} (client {cid}) does not speak fedsim client protocol "
                f"{wire.PROTOCOL_VERSION}: its {kind} reply lacks '{wire.METRICS}.{key}', which "
                f"SuperNode {nodes.get(other)} (client {other}) sends (docs/deployment.md, "
                "'Foreign clients')"
            )


def check_protocol(
    kind: str, replies: list[tuple[int, Message]], node_of_client: dict[int, int] | None
) -> None:
    """Every (non-error) ``kind`` reply has the protocol's keys and the same metric keys."""
    nodes = node_of_client or {}
    answered = [(cid, r) for cid, r in replies if not r.has_error()]
    for cid, reply in answered:
        require_protocol(reply, kind, cid, nodes.get(cid))
    require_same_metrics(kind, answered, node_of_client)


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
