"""The global model's accuracy beyond the last round: its best round and the final task boundary.

The last round's global accuracy can mislead: with late arrivals, the rounds after the first
clients finish their streams train only the late clients' last tasks, and the global model
drifts towards them (default run: 0.74 at round 15, 0.41 at round 17). Three numbers of the
same curve ``c_r`` (the mean accuracy over all tasks' test splits after round ``r``) are
reported side by side:

* **last**: ``c_R``, the last evaluated round (``summary.json`` ``final_central_acc``);
* **best**: ``max_r c_r`` and its round (the earliest on ties);
* **final task boundary**: ``c_b`` with ``b`` = :func:`final_task_boundary`, the first round at
  which a client with a full stream has learned all its tasks; when round ``b`` was not
  evaluated centrally, the last evaluation before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def final_task_boundary(streams: Iterable[Any]) -> int | None:
    """First round at which a client with the most tasks has finished its last one.

    ``b = min { end_round(last slot of k) : k has max_k' |slots(k')| slots }``. Clients with
    fewer tasks (those that leave early) do not count, so ``b`` is where the first full stream
    ends. ``None`` when no client has a task.

    Parameters
    ----------
    streams : iterable of ClientStream
        The plan's streams (``slots`` with ``end_round`` each). Lazy streams that state their
        schedule (``active_rounds = (first, last)``: every client trains in exactly those
        rounds, :class:`scenarios.types.LazyStreams`) answer ``last`` without building a
        stream - a million clients are not built just for this number.
    """
    schedule = getattr(streams, "active_rounds", None)
    if schedule is not None:
        return int(schedule[1])
    ends: list[tuple[int, int]] = []
    for stream in streams:
        if stream.slots:
            ends.append((len(stream.slots), max(int(s.end_round) for s in stream.slots)))
    if not ends:
        return None
    most = max(n for n, _ in ends)
    return min(end for n, end in ends if n == most)


def central_highlights(
    rounds: Sequence[int], accs: Sequence[float], boundary_round: int | None
) -> dict[str, float | int | None]:
    """Last, best and final-task-boundary values of a global-accuracy curve.

    Parameters
    ----------
    rounds : sequence of int
        Rounds with a central evaluation, ascending.
    accs : sequence of float
        ``c_r`` of each of those rounds (NaN entries are skipped).
    boundary_round : int or None
        The final task boundary ``b`` (:func:`final_task_boundary`).

    Returns
    -------
    dict
        ``last_central_acc``, ``last_central_round``, ``best_central_acc``,
        ``best_central_round``, ``boundary_central_acc``, ``boundary_central_round``
        (``None`` where undefined).
    """
    pairs = [(int(r), float(a)) for r, a in zip(rounds, accs, strict=True) if np.isfinite(a)]
    out: dict[str, float | int | None] = dict.fromkeys(
        (
            "last_central_acc", "last_central_round", "best_central_acc",
            "best_central_round", "boundary_central_acc", "boundary_central_round",
        )
    )
    if not pairs:
        return out
    out["last_central_round"], out["last_central_acc"] = pairs[-1]
    best_round, best = pairs[0]
    for r, a in pairs[1:]:
        if a > best:
            best_round, best = r, a
    out["best_central_round"], out["best_central_acc"] = best_round, best
    if boundary_round is not None:
        before = [(r, a) for r, a in pairs if r <= boundary_round]
        if before:
            out["boundary_central_round"], out["boundary_central_acc"] = before[-1]
    return out
