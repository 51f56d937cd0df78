"""Whether a finished run did what was asked: ``completed``, ``degraded`` or ``failed``.

A run is ``completed`` only when its rounds trained and its replies were usable. Rejections
the config asked for (faults injected by ``configs/faults``) do not count; everything else
does: error replies (a dead Ray actor, a crashing ClientApp), malformed replies, evaluation
replies without the task key, rounds skipped for too few valid replies. The thresholds and
the policy are ``federation.*`` keys:

``max_fraction_rejected``
    unexpected rejected replies / replies asked for (train + evaluate), default 0.05
``max_fraction_skipped``
    rounds skipped without an injected cause / rounds run, default 0.0
``degraded_policy``
    ``degrade`` (status ``degraded``, exit code 3) or ``fail`` (status ``failed``, exit 1)

A final ACC of ``n/a`` after rejected evaluation replies is always reported. Exit codes:
0 completed, 1 failed, 2 bad input (nothing ran), 3 degraded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fedsim.server.round_record import RoundRecord

EXIT_CODES = {"completed": 0, "failed": 1, "degraded": 3}
DEAD_ACTOR_MARKERS = (
    "ActorDied",
    "actor died",
    "actor is dead",
    "RayActorError",
    "ActorUnavailable",
)


def health_counts(history: Iterable[RoundRecord]) -> dict[str, Any]:
    """Replies asked for and rejected without an injected cause, skipped rounds, examples."""
    asked = unexpected = dead = rounds = skipped = eval_asked = eval_rejected = 0
    examples: list[str] = []
    for record in history:
        rounds += 1
        row_unexpected = 0
        for part in record.attempts():
            asked += part.asked or 0
            for cid in part.unexpected or []:
                reason = part.rejected.get(cid, "rejected")
                row_unexpected += 1
                dead += any(m in reason for m in DEAD_ACTOR_MARKERS)
                if len(examples) < 3:
                    examples.append(f"round {record.round} client {cid}: {reason}")
        unexpected += row_unexpected
        ev = record.client_eval
        eval_asked += ev.asked if ev is not None else 0
        for cid, reason in (ev.rejected if ev is not None else {}).items():
            eval_rejected += 1
            dead += any(m in str(reason) for m in DEAD_ACTOR_MARKERS)
            if len(examples) < 3:
                examples.append(f"round {record.round} client {cid} (evaluate): {reason}")
        injected = any(part.faults for part in record.attempts())
        if record.skipped and (row_unexpected or not injected):
            skipped += 1
    return {
        "rounds": rounds,
        "replies_asked": asked + eval_asked,
        "replies_rejected_unexpectedly": unexpected + eval_rejected,
        "eval_replies_rejected": eval_rejected,
        "dead_actor_replies": dead,
        "rounds_skipped_unexpectedly": skipped,
        "examples": examples,
    }


def assess(
    history: Iterable[RoundRecord], final_acc: float | None, fed: Mapping[str, Any]
) -> dict[str, Any]:
    """``status``, ``status_reason`` and ``health`` for ``summary.json`` and ``status.json``.

    Parameters
    ----------
    history : iterable of RoundRecord
        The round records of the run (``ServerState.history``).
    final_acc : float or None
        The run's final ACC (None: no client accuracy was recorded).
    fed : mapping
        The ``federation`` config (thresholds and ``degraded_policy``).
    """
    counts = health_counts(history)
    reasons = []
    asked, bad = counts["replies_asked"], counts["replies_rejected_unexpectedly"]
    limit = float(fed.get("max_fraction_rejected", 0.05))
    if asked and bad / asked > limit:
        dead = counts["dead_actor_replies"]
        why = f" ({dead} from a dead Ray actor)" if dead else ""
        reasons.append(
            f"{bad} of {asked} client replies rejected{why}, more than "
            f"federation.max_fraction_rejected={limit:g}"
        )
    rounds, skipped = counts["rounds"], counts["rounds_skipped_unexpectedly"]
    limit = float(fed.get("max_fraction_skipped", 0.0))
    if rounds and skipped / rounds > limit:
        reasons.append(
            f"{skipped} of {rounds} rounds skipped, more than "
            f"federation.max_fraction_skipped={limit:g}"
        )
    if final_acc is None and counts["eval_replies_rejected"]:
        reasons.append(f"ACC is n/a: {counts['eval_replies_rejected']} evaluation replies rejected")
    if not reasons:
        return {"status": "completed", "status_reason": None, "health": counts}
    if counts["examples"]:
        reasons.append(f"first: {counts['examples'][0]}")
    state = "failed" if fed.get("degraded_policy") == "fail" else "degraded"
    return {"status": state, "status_reason": "; ".join(reasons), "health": counts}
