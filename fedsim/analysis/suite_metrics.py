"""The metrics a suite table can show: how each is read from ``summary.json`` and defined.

The definitions are printed under every suite table (:func:`fedsim.analysis.suite.markdown`);
the continual-learning ones follow :mod:`fedsim.metrics.continual` (DESIGN.md rule 10).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """A table column: how to read it from a run's ``summary.json`` and what it means."""

    header: str
    read: Callable[[Mapping[str, Any]], float | None]
    definition: str
    scale: float = 1.0
    digits: int = 4


def _final(key: str) -> Callable[[Mapping[str, Any]], float | None]:
    return lambda s: (s.get("final") or {}).get(key)


def _per_round(key: str) -> Callable[[Mapping[str, Any]], float | None]:
    """Mean over the rounds that recorded ``key`` (rounds with no training count as 0 bytes)."""

    def read(summary: Mapping[str, Any]) -> float | None:
        values = [r.get(key) for r in summary.get("history") or []]
        values = [float(v) for v in values if v is not None]
        return sum(values) / len(values) if values else None

    return read


def _peak(key: str) -> Callable[[Mapping[str, Any]], float | None]:
    def read(summary: Mapping[str, Any]) -> float | None:
        values = [r.get(key) for r in summary.get("history") or []]
        values = [float(v) for v in values if v is not None]
        return max(values) if values else None

    return read


METRICS: dict[str, Metric] = {
    "acc": Metric(
        "A_last",
        _final("acc"),
        "final average accuracy: mean over clients of mean_j A[T-1, j] (each client's own "
        "task matrix, row T-1 = after its last task)",
    ),
    "aia": Metric(
        "AIA",
        _final("aia"),
        "average incremental accuracy: mean over clients of mean_l (mean_{j<=l} A[l, j])",
    ),
    "forgetting": Metric(
        "F",
        _final("forgetting"),
        "forgetting (Chaudhry et al. 2018): mean_{j<T-1} max_{j<=l<=T-2} A[l, j] - A[T-1, j]",
    ),
    "bwt": Metric("BWT", _final("bwt"), "backward transfer: mean_{j<T-1} A[T-1, j] - A[j, j]"),
    "fwt": Metric(
        "FWT",
        _final("fwt"),
        "forward transfer: mean_{j>0} A[j-1, j] - b_j (b_j: the initial model on task j)",
    ),
    "global_acc": Metric(
        "global acc",
        lambda s: s.get("final_central_acc"),
        "the final global model on every task's test split (central view)",
    ),
    "bytes_up": Metric(
        "up MB/round",
        _per_round("bytes_up"),
        "bytes of arrays the clients sent per round (mean over rounds)",
        1e-6,
        3,
    ),
    "bytes_down": Metric(
        "down MB/round",
        _per_round("bytes_down"),
        "bytes of arrays the server sent per round (mean over rounds)",
        1e-6,
        3,
    ),
    "client_memory": Metric(
        "client memory MB",
        lambda s: (s.get("client_memory_bytes") or {}).get("total"),
        "peak over the run of the largest per-client memory a method keeps between rounds "
        "(old model, Fisher and anchor, replay exemplars) or is sent to hold while it trains "
        "(TARGET's old model and synthetic set), summed over kinds; n/a: keeps none",
        1e-6,
        3,
    ),
    "client_compute": Metric(
        "client s/round",
        _per_round("client_train_s"),
        "mean over rounds of the mean local training time of one client (seconds)",
        1.0,
        3,
    ),
    "wall_time": Metric("wall s", lambda s: s.get("wall_time_s"), "the run's wall time", 1.0, 1),
}
