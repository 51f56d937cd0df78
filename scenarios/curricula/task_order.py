"""Task-level curricula: reorder each client's task slots by a static difficulty score.

Vahidian et al., "When Do Curricula Work in Federated Learning?" (ICCV 2023) order data
easy -> hard (curriculum), hard -> easy (anti-curriculum) or at random; here the same three
orderings (plus the scenario's own order) apply to the *tasks* of each client's stream.
Difficulty is scored statically from the client's own training labels of each task:

* ``label_entropy``: Shannon entropy (nats) of the slot's label distribution - a slot
  dominated by one class is easy, a balanced many-class slot is hard;
* ``class_count``: number of distinct labels present in the slot;
* ``size``: number of training examples (fewer is easier).

``score: global_loss`` defers the ordering to run time (see ``runtime_order.py``): each client
scores its upcoming tasks with the current global model when it reaches a task boundary.

Ties keep the scenario's order (stable sort), both for curriculum and anti-curriculum.
Slots keep their own durations; start/end rounds are re-assigned in the new order, with the
stream's original first round and gaps between positions, so the plan's length is unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scenarios.types import ClientStream, ScenarioPlan, TaskSlot

ORDERINGS = ("scenario", "curriculum", "anti", "random")
SCORES = ("label_entropy", "class_count", "size")
RUNTIME_SCORE = "global_loss"  # scored by each client at its task boundaries (runtime_order.py)
_RANDOM_PURPOSE = 0x7A5C  # fixed stream id of the task-order RNG (seeded per client)


def slot_score(labels: np.ndarray, score: str) -> float:
    """Return the static difficulty of a slot from its training labels (higher is harder).

    Examples
    --------
    >>> slot_score(np.array([0, 0, 1, 1]), "label_entropy")  # ln 2
    0.6931471805599453
    >>> slot_score(np.array([3, 3, 3, 5]), "class_count")
    2.0
    """
    labels = np.asarray(labels)
    if score == "size":
        return float(len(labels))
    if len(labels) == 0:
        return 0.0
    _, counts = np.unique(labels, return_counts=True)
    if score == "class_count":
        return float(len(counts))
    if score == "label_entropy":
        p = counts / counts.sum()
        return float(-(p * np.log(p)).sum())
    raise ValueError(f"task score '{score}' unknown; allowed: {', '.join(SCORES)}")


def order_positions(
    scores: np.ndarray, ordering: str, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Return the new order of positions ``0..len(scores)-1`` for an ordering.

    ``curriculum`` sorts by ascending score, ``anti`` by descending score (ties keep the
    original order in both), ``random`` draws a permutation from ``rng``, ``scenario`` keeps
    the order.

    Examples
    --------
    >>> order_positions(np.array([0.5, 0.1, 0.9]), "curriculum").tolist()
    [1, 0, 2]
    >>> order_positions(np.array([0.5, 0.1, 0.9]), "anti").tolist()
    [2, 0, 1]
    """
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    if ordering == "scenario":
        return np.arange(n)
    if ordering == "curriculum":
        return np.argsort(scores, kind="stable")
    if ordering == "anti":
        return np.argsort(-scores, kind="stable")
    if ordering == "random":
        if rng is None:
            raise ValueError("ordering 'random' needs a generator")
        return rng.permutation(n)
    raise ValueError(f"ordering '{ordering}' unknown; allowed: {', '.join(ORDERINGS)}")


def reorder_stream(stream: ClientStream, new_order: np.ndarray) -> ClientStream:
    """Return ``stream`` with its slots in ``new_order``, rounds re-assigned consecutively.

    Position ``k`` of the new stream starts after position ``k-1`` ends plus the gap the
    original stream had between its positions ``k-1`` and ``k``.
    """
    old = stream.slots
    if sorted(int(i) for i in new_order) != list(range(len(old))):
        raise ValueError(f"new_order must be a permutation of 0..{len(old) - 1}")
    gaps = [0] + [old[k].start_round - old[k - 1].end_round - 1 for k in range(1, len(old))]
    slots: list[TaskSlot] = []
    start = old[0].start_round if old else 1
    for pos, idx in enumerate(new_order):
        src = old[int(idx)]
        if pos > 0:
            start = slots[-1].end_round + 1 + gaps[pos]
        duration = src.end_round - src.start_round
        slots.append(replace(src, start_round=start, end_round=start + duration))
    return ClientStream(stream.client_id, tuple(slots))


class TaskOrder:
    """Reorder every client's tasks by a static difficulty score.

    Parameters
    ----------
    ordering : str
        ``scenario`` | ``curriculum`` (easy -> hard) | ``anti`` (hard -> easy) | ``random``.
    score : str
        ``label_entropy`` | ``class_count`` | ``size`` (see the module docstring).
    """

    def __init__(self, ordering: str = "scenario", score: str = "label_entropy") -> None:
        if ordering not in ORDERINGS:
            raise ValueError(
                f"tasks.ordering '{ordering}' unknown; allowed: {', '.join(ORDERINGS)}"
            )
        if score not in (*SCORES, RUNTIME_SCORE):
            allowed = ", ".join((*SCORES, RUNTIME_SCORE))
            raise ValueError(f"tasks.score '{score}' unknown; allowed: {allowed}")
        if score == RUNTIME_SCORE and ordering == "scenario":
            raise ValueError("tasks.score 'global_loss' needs ordering curriculum, anti or random")
        self.ordering = ordering
        self.score = score

    def scores(self, plan: ScenarioPlan, train_labels: np.ndarray) -> list[np.ndarray]:
        """Return each client's slot difficulties, in the scenario's slot order."""
        labels = np.asarray(train_labels)
        return [
            np.array([slot_score(labels[s.train_idx], self.score) for s in stream.slots])
            for stream in plan.streams
        ]

    @property
    def runtime(self) -> bool:
        """Whether clients order their tasks at run time (``score: global_loss``)."""
        return self.score == RUNTIME_SCORE

    def apply(self, plan: ScenarioPlan, *, seed: int, data=None) -> ScenarioPlan:
        """Return the plan with every client's slots reordered (a pure function of the seed).

        A run-time ordering leaves the plan as it is: clients decide at their boundaries.
        """
        if self.ordering == "scenario" or self.runtime:
            return plan
        if data is None and self.ordering != "random":
            raise ValueError("a scored task curriculum needs the data source's train labels")
        all_scores = (
            self.scores(plan, data.y_train)
            if data is not None
            else [np.zeros(len(s.slots)) for s in plan.streams]
        )
        streams = []
        for stream, scores in zip(plan.streams, all_scores, strict=True):
            rng = np.random.default_rng([int(seed), _RANDOM_PURPOSE, stream.client_id])
            streams.append(reorder_stream(stream, order_positions(scores, self.ordering, rng)))
        info = {**plan.info, "task_ordering": self.ordering, "task_score": self.score}
        return replace(plan, streams=tuple(streams), info=info)
