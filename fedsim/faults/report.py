"""Reliability bookkeeping of round rows: rejected replies per client and per round.

The round loop puts ``rejected`` (client -> reason, including clients that missed the
deadline), ``missing``, ``unavailable``, ``faults`` (injected kind -> count), ``skipped`` and
``retry`` in each row; these helpers turn rows into TensorBoard values and the summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fedsim.logging.tags import tag

DEADLINE = "no reply before the round deadline"


def all_rejected(row: dict[str, Any]) -> list[tuple[int, int, str]]:
    """Return (attempt, client, reason) of every reply the round rejected or missed."""
    out = [(0, int(c), r) for c, r in sorted(row.get("rejected", {}).items())]
    retry = row.get("retry") or {}
    out += [(1, int(c), r) for c, r in sorted(retry.get("rejected", {}).items())]
    return out


def round_values(row: dict[str, Any]) -> dict[str, float]:
    """TensorBoard scalars of one round row."""
    rejected = all_rejected(row)
    values = {
        tag("rejected"): sum(1 for _, _, r in rejected if r != DEADLINE),
        tag("missed_deadline"): sum(1 for _, _, r in rejected if r == DEADLINE),
        tag("unavailable"): len(row.get("unavailable", [])),
        tag("round_skipped"): 1.0 if row.get("skipped") else 0.0,
        tag("late_dropped"): row.get("late_dropped", 0),
    }
    for kind, n in row.get("faults", {}).items():
        values[tag("injected", kind)] = n
    return values


def rejected_markdown(row: dict[str, Any]) -> str | None:
    """A markdown table of the round's rejected clients (None when there are none)."""
    rejected = all_rejected(row)
    if not rejected and not row.get("skipped"):
        return None
    lines = ["| client | attempt | reason |", "|---|---|---|"]
    lines += [f"| {c} | {a} | {r} |" for a, c, r in rejected]
    if row.get("skipped"):
        lines.append(f"\n**round skipped**: {row['skipped']}")
    return "\n".join(lines)


def rejected_ids(row: dict[str, Any]) -> list[int]:
    """Client ids of the round's rejected or missing replies."""
    return [c for _, c, _ in all_rejected(row)]


def fault_summary(history: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Totals for ``summary.json``: rejected replies by client and by round, injected faults."""
    by_client: dict[str, list[dict[str, Any]]] = {}
    by_round: dict[str, int] = {}
    injected: dict[str, int] = {}
    skipped: list[int] = []
    late = 0
    for row in history:
        rnd = int(row["round"])
        rejected = all_rejected(row)
        if rejected:
            by_round[str(rnd)] = len(rejected)
        for attempt, cid, reason in rejected:
            entry = {"round": rnd, "attempt": attempt, "reason": reason}
            by_client.setdefault(str(cid), []).append(entry)
        for part in (row, row.get("retry") or {}):
            for kind, n in part.get("faults", {}).items():
                injected[kind] = injected.get(kind, 0) + int(n)
        if row.get("skipped"):
            skipped.append(rnd)
        late = max(late, int(row.get("late_dropped", 0)))
    return {
        "rejected_by_client": by_client,
        "rejected_by_round": by_round,
        "faults_injected": injected,
        "skipped_rounds": skipped,
        "late_replies_dropped": late,
    }
