"""Run-time task ordering: a client picks its next task when it reaches a task boundary.

The task-level counterpart of Vahidian et al. (ICCV 2023)'s G-Loss scoring: when a client
starts position ``p`` of its stream, it scores every not-yet-started task with the *current
global model* and takes the easiest (``curriculum``), the hardest (``anti``) or a random one.

To keep the plan's rounds valid for the whole federation (selection, evaluation, the
server's accuracy book all read the plan), only tasks whose slot lasts as many rounds as
position ``p`` are candidates: a realised stream swaps *which task* fills a position, never
*when* positions start and end. The decisions are a list of plan positions in realised order
(``decided``), kept in the client's state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from scenarios.types import ClientStream

RUNTIME_ORDERINGS = ("curriculum", "anti", "random")


def _duration(stream: ClientStream, pos: int) -> int:
    slot = stream.slots[pos]
    return slot.end_round - slot.start_round


def candidates(stream: ClientStream, decided: Sequence[int]) -> list[int]:
    """Plan positions that may fill position ``len(decided)``: undecided, same duration."""
    pos = len(decided)
    if pos >= len(stream.slots):
        return []
    want = _duration(stream, pos)
    taken = set(int(d) for d in decided)
    return [p for p in range(len(stream.slots)) if p not in taken and _duration(stream, p) == want]


def choose_next(
    scores: Mapping[int, float], ordering: str, rng: np.random.Generator | None = None
) -> int:
    """Return the candidate to train next: lowest score, highest score, or a random one.

    Ties go to the earliest plan position.

    Examples
    --------
    >>> choose_next({2: 0.4, 0: 0.9, 3: 0.4}, "curriculum")
    2
    >>> choose_next({2: 0.4, 0: 0.9, 3: 0.4}, "anti")
    0
    """
    if not scores:
        raise ValueError("no candidate task to choose from")
    keys = sorted(scores)
    if ordering == "curriculum":
        return min(keys, key=lambda k: scores[k])
    if ordering == "anti":
        return max(keys, key=lambda k: scores[k])
    if ordering == "random":
        if rng is None:
            raise ValueError("ordering 'random' needs a generator")
        return int(keys[int(rng.integers(len(keys)))])
    raise ValueError(f"ordering '{ordering}' unknown; allowed: {', '.join(RUNTIME_ORDERINGS)}")


def realised_stream(stream: ClientStream, decided: Sequence[int]) -> ClientStream:
    """Return the stream as realised so far.

    Position ``k < len(decided)`` trains plan slot ``decided[k]`` (in position ``k``'s
    rounds); each later position takes the first undecided slot (scenario order) that lasts as
    many rounds.

    Examples
    --------
    >>> import numpy as np
    >>> from scenarios.types import TaskSlot
    >>> s = ClientStream(0, tuple(TaskSlot(t, 1 + t, 1 + t, np.array([t])) for t in range(3)))
    >>> [(x.task_id, x.start_round) for x in realised_stream(s, [2]).slots]
    [(2, 1), (0, 2), (1, 3)]
    """
    n = len(stream.slots)
    decided = [int(d) for d in decided]
    if len(set(decided)) != len(decided) or any(not 0 <= d < n for d in decided):
        raise ValueError(f"decided positions {decided} are not distinct positions of 0..{n - 1}")
    for pos, src in enumerate(decided):
        if _duration(stream, src) != _duration(stream, pos):
            raise ValueError(f"slot {src} cannot fill position {pos}: different duration")
    remaining = [p for p in range(n) if p not in set(decided)]
    sources = list(decided)
    for pos in range(len(decided), n):  # undecided: first remaining slot of the same length
        pick = next((p for p in remaining if _duration(stream, p) == _duration(stream, pos)), None)
        if pick is None:
            raise ValueError(f"no undecided slot fits position {pos}")
        remaining.remove(pick)
        sources.append(pick)
    slots = []
    for pos, src in enumerate(sources):
        frame = stream.slots[pos]
        slots.append(
            replace(stream.slots[src], start_round=frame.start_round, end_round=frame.end_round)
        )
    return ClientStream(stream.client_id, tuple(slots))
