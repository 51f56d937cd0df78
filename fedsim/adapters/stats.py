"""Per-round adapter statistics an adapter strategy logs to TensorBoard."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flwr.app import Message

from fedsim import wire
from fedsim.logging.tags import tag


@dataclass
class AdapterStats:
    """Trainable-parameter fraction, payload size relative to the model, per-task usage."""

    model_bytes: int = 0
    trainable_fraction: float | None = None
    payload_ratio: float | None = None
    usage: dict[int, int] = field(default_factory=dict)

    def update(self, replies: Iterable[Message]) -> None:
        """Read one round's (valid) train replies."""
        fractions, ratios, usage = [], [], {}
        for reply in replies:
            m = reply.content[wire.METRICS]
            if wire.TOTAL_PARAMS in m and m[wire.TOTAL_PARAMS]:
                fractions.append(float(m[wire.TRAINABLE_PARAMS]) / float(m[wire.TOTAL_PARAMS]))
            if self.model_bytes:
                ratios.append(reply.content[wire.ARRAYS].count_bytes() / self.model_bytes)
            t = int(m.get(wire.TASK_ID, -1))
            usage[t] = usage.get(t, 0) + 1
        self.trainable_fraction = sum(fractions) / len(fractions) if fractions else None
        self.payload_ratio = sum(ratios) / len(ratios) if ratios else None
        self.usage = usage

    def scalars(self, num_tasks: int) -> dict[str, float]:
        """Return the TensorBoard scalars of the last round."""
        out: dict[str, float] = {}
        if self.trainable_fraction is not None:
            out[tag("trainable_fraction")] = self.trainable_fraction
        if self.payload_ratio is not None:
            out[tag("adapter_bytes_ratio")] = self.payload_ratio
        for t in range(num_tasks):
            out[tag("adapter_usage", t)] = float(self.usage.get(t, 0))
        return out
