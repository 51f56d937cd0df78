"""Reliability bookkeeping of round records: rejected replies per client and per round.

Each :class:`~fedsim.server.round_record.RoundRecord` holds, per train attempt, ``rejected``
(client -> reason, including clients that missed the deadline), ``missing``, ``unavailable``
and ``faults`` (injected kind -> count), and the round's ``skipped`` reason and ``retry``;
these helpers turn records into TensorBoard values and the summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fedsim.logging.tags import tag
from fedsim.server.round_record import DEADLINE, RoundRecord


def round_values(record: RoundRecord) -> dict[str, float]:
    """TensorBoard scalars of one round."""
    rejected = record.all_rejected()
    values = {
        tag("rejected"): sum(1 for _, _, r in rejected if r != DEADLINE),
        tag("missed_deadline"): sum(1 for _, _, r in rejected if r == DEADLINE),
        tag("unavailable"): len(record.train.unavailable or []),
        tag("round_skipped"): 1.0 if record.skipped else 0.0,
        tag("late_dropped"): record.late_dropped or 0,
    }
    for kind, n in (record.train.faults or {}).items():
        values[tag("injected", kind)] = n
    return values


def rejected_markdown(record: RoundRecord) -> str | None:
    """A markdown table of the round's rejected clients (None when there are none)."""
    rejected = record.all_rejected()
    if not rejected and not record.skipped:
        return None
    lines = ["| client | attempt | reason |", "|---|---|---|"]
    lines += [f"| {c} | {a} | {r} |" for a, c, r in rejected]
    if record.skipped:
        lines.append(f"\n**round skipped**: {record.skipped}")
    return "\n".join(lines)


def rejected_ids(record: RoundRecord) -> list[int]:
    """Client ids of the round's rejected or missing replies."""
    return [c for _, c, _ in record.all_rejected()]


def fault_summary(history: Iterable[RoundRecord]) -> dict[str, Any]:
    """Totals for ``summary.json``: rejected replies by client and by round, injected faults."""
    by_client: dict[str, list[dict[str, Any]]] = {}
    by_round: dict[str, int] = {}
    injected: dict[str, int] = {}
    skipped: list[int] = []
    late = 0
    for record in history:
        rnd = record.round
        rejected = record.all_rejected()
        if rejected:
            by_round[str(rnd)] = len(rejected)
        for attempt, cid, reason in rejected:
            entry = {"round": rnd, "attempt": attempt, "reason": reason}
            by_client.setdefault(str(cid), []).append(entry)
        for part in record.attempts():
            for kind, n in (part.faults or {}).items():
                injected[kind] = injected.get(kind, 0) + int(n)
        if record.skipped:
            skipped.append(rnd)
        late = max(late, record.late_dropped or 0)
    return {
        "rejected_by_client": by_client,
        "rejected_by_round": by_round,
        "faults_injected": injected,
        "skipped_rounds": skipped,
        "late_replies_dropped": late,
    }
