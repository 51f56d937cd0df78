"""Per-client reply metrics of the FCL baselines: memory bytes and each mechanism's term.

The round loop puts :func:`baseline_values` of a round's valid replies in the round's
:class:`~fedsim.server.round_record.TrainResult` (``baselines``); the reporter sends them to
TensorBoard (``fcl/<metric>/<stat>``) and ``summary.json`` keeps them in its history and, as
the peak over the run, in ``client_memory_bytes`` (:func:`peak_memory`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from flwr.app import Message

from fedsim import wire
from fedsim.server.round_record import RoundRecord

MEMORY_KEYS = (wire.MEMORY_OLD_MODEL, wire.MEMORY_FISHER, wire.MEMORY_BUFFER, wire.MEMORY_SYNTHETIC)


def baseline_values(replies: Iterable[Message]) -> dict[str, float]:
    """``{"<metric>/mean": ..., "<metric>/max": ...}`` over the replies that report a metric.

    Only the keys of :data:`fedsim.wire.BASELINE_METRICS`; empty when no reply has any.
    """
    metrics = [r.content[wire.METRICS] for r in replies]
    out: dict[str, float] = {}
    for key in wire.BASELINE_METRICS:
        values = [float(m[key]) for m in metrics if key in m]
        if values:
            out[f"{key}/mean"] = float(np.mean(values))
            out[f"{key}/max"] = float(np.max(values))
    return out


def peak_memory(history: Sequence[RoundRecord]) -> dict[str, float]:
    """The largest per-client memory of each kind (bytes) reported in any round."""
    peaks: dict[str, float] = {}
    for record in history:
        values = record.result.baselines if record.result is not None else {}
        for key in MEMORY_KEYS:
            value = values.get(f"{key}/max")
            if value is not None:
                peaks[key] = max(peaks.get(key, 0.0), float(value))
    if peaks:
        peaks["total"] = float(sum(peaks.values()))
    return peaks
