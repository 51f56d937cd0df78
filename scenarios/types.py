"""Types shared by every scenario: tasks, per-client task slots, client streams and the plan.

A plan holds *indices* into a data source's train/test arrays, never copies of data
(DESIGN.md rule 6). Rounds are 1-based, as in Flower (`server-round`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Task:
    """A federation-wide task definition.

    Parameters
    ----------
    task_id : int
        Global task id (0-based, dense).
    classes : tuple[int, ...]
        Labels that belong to the task (all labels for a domain-incremental task).
    test_idx : numpy.ndarray
        Indices into the data source's test split that score this task.
    domain : str
        Name of the input transform of the task (``"identity"`` when none), for
        domain-incremental streams; the transform itself is applied by the data source.
    name : str
        Human-readable name, e.g. ``"digits 0-1"``.
    """

    task_id: int
    classes: tuple[int, ...]
    test_idx: np.ndarray
    domain: str = "identity"
    name: str = ""


@dataclass(frozen=True)
class TaskSlot:
    """One task in one client's stream, active from ``start_round`` to ``end_round`` inclusive."""

    task_id: int
    start_round: int
    end_round: int
    train_idx: np.ndarray

    def active(self, server_round: int) -> bool:
        """Return whether the slot is being trained in ``server_round``."""
        return self.start_round <= server_round <= self.end_round


@dataclass(frozen=True)
class ClientStream:
    """The sequence of task slots one client lives through, in the client's own order."""

    client_id: int
    slots: tuple[TaskSlot, ...]

    def slot_at(self, server_round: int) -> int | None:
        """Return the position of the slot active in ``server_round``, or None when idle."""
        for pos, slot in enumerate(self.slots):
            if slot.active(server_round):
                return pos
        return None

    def active_slot(self, server_round: int) -> TaskSlot:
        """Return the slot active in ``server_round``; ValueError naming the client when idle."""
        pos = self.slot_at(server_round)
        if pos is None:
            raise ValueError(f"client {self.client_id} has no active task in round {server_round}")
        return self.slots[pos]

    def seen_positions(self, server_round: int) -> list[int]:
        """Return positions of the slots started on or before ``server_round``."""
        return [p for p, s in enumerate(self.slots) if s.start_round <= server_round]

    def ending_at(self, server_round: int) -> int | None:
        """Return the position of the slot whose last round is ``server_round``, if any."""
        for pos, slot in enumerate(self.slots):
            if slot.end_round == server_round:
                return pos
        return None


SAMPLE_LIMIT = 1024  # streams checked by validation when a lazy plan states its schedule


def _lazy_streams(n: int, factory: Callable[[int], ClientStream], active_rounds) -> LazyStreams:
    return LazyStreams(n, factory, active_rounds=active_rounds)


class LazyStreams(Sequence):
    """Client streams built on first access by ``factory(client_id)``, then kept.

    For huge federations whose streams are a pure function of the client id: a Ray actor
    builds only the streams of the clients it trains instead of all of them (at 100,000 clients
    an eager plan is built by the driver *and* by every actor before its first client trains).
    Pickling sends the factory, not the built streams, so ``factory`` must be picklable
    (a module-level function or a ``functools.partial`` of one).

    Parameters
    ----------
    num_clients : int
        Number of clients (ids ``0..num_clients-1``).
    factory : callable
        ``factory(client_id) -> ClientStream`` with ``stream.client_id == client_id``.
    active_rounds : (int, int), optional
        ``(first, last)`` when *every* client has a task to train in exactly the rounds
        ``first..last`` (no idle round between). The plan then answers "who is active in round
        r" without building a stream (``range(num_clients)`` or nobody), and validation checks
        a bounded sample of streams against it (:meth:`ScenarioPlan.build_all`): nothing the
        driver does per run or per round is O(number of clients) - one million registered
        clients cost what a thousand do.
    """

    def __init__(
        self,
        num_clients: int,
        factory: Callable[[int], ClientStream],
        *,
        active_rounds: tuple[int, int] | None = None,
    ) -> None:
        if int(num_clients) < 1:
            raise ValueError(f"num_clients must be >= 1, got {num_clients}")
        if active_rounds is not None:
            first, last = (int(r) for r in active_rounds)
            if not 1 <= first <= last:
                raise ValueError(f"active_rounds must be 1 <= first <= last, got {active_rounds}")
            active_rounds = (first, last)
        self._n = int(num_clients)
        self._factory = factory
        self.active_rounds = active_rounds
        self._built: dict[int, ClientStream] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):  # noqa: ANN001 - int or slice, as for a tuple
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self._n)))
        i = operator.index(index)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"client {index} out of range (0..{self._n - 1})")
        stream = self._built.get(i)
        if stream is None:
            stream = self._factory(i)
            if stream.client_id != i:
                raise ValueError(f"stream factory returned client {stream.client_id} for {i}")
            self._built[i] = stream
        return stream

    def __iter__(self) -> Iterator[ClientStream]:
        return (self[i] for i in range(self._n))

    def __reduce__(self):  # noqa: ANN204 - pickle the recipe, not the built streams
        return (_lazy_streams, (self._n, self._factory, self.active_rounds))

    def sample_ids(self, limit: int = SAMPLE_LIMIT) -> list[int]:
        """All client ids, or ``limit`` evenly spaced ones (first and last included)."""
        if self._n <= limit:
            return list(range(self._n))
        return sorted({int(i) for i in np.linspace(0, self._n - 1, limit).round()})

    @property
    def num_built(self) -> int:
        """How many streams have been built so far."""
        return len(self._built)


@dataclass(frozen=True)
class ScenarioPlan:
    """Everything the federation will live through: global tasks and one stream per client.

    Parameters
    ----------
    kind : str
        Generator name, e.g. ``"class_incremental"``.
    tasks : tuple[Task, ...]
        Global task definitions, indexed by ``task_id``.
    streams : tuple[ClientStream, ...] or LazyStreams
        One stream per client, indexed by ``client_id`` (0..num_clients-1).
    num_rounds : int
        Rounds needed to finish every stream.
    num_classes : int
        Size of the label space.
    task_incremental : bool
        Whether the task id is given at test time (multi-head evaluation).
    info : dict
        Free-form generator parameters, echoed in summaries.
    """

    kind: str
    tasks: tuple[Task, ...]
    streams: tuple[ClientStream, ...] | LazyStreams
    num_rounds: int
    num_classes: int
    task_incremental: bool = False
    info: dict = field(default_factory=dict)

    @property
    def num_clients(self) -> int:
        """Number of clients in the federation."""
        return len(self.streams)

    def build_all(self) -> None:
        """Build every lazily defined stream now (no-op for a tuple of streams).

        The driver calls it while validating, so a faulty stream factory fails before the run
        and the round loop, which looks at every client, finds the streams built. Lazy streams
        that state their ``active_rounds`` are checked on a bounded sample instead (the round
        loop then never looks at every client); a sampled stream whose rounds disagree with
        the stated schedule raises ``ValueError``.
        """
        streams = self.streams
        schedule = getattr(streams, "active_rounds", None)
        if schedule is None:
            for _ in streams:
                pass
            return
        for cid in streams.sample_ids():
            slots = streams[cid].slots
            rounds = sorted(r for s in slots for r in range(s.start_round, s.end_round + 1))
            if rounds != list(range(schedule[0], schedule[1] + 1)):
                raise ValueError(
                    f"client {cid}'s stream trains in rounds {rounds[:3]}..., not exactly "
                    f"{schedule[0]}..{schedule[1]} as the plan's active_rounds states"
                )

    @cached_property
    def _slot_rounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(client id, start round, end round) of every slot, built on first use."""
        cids, starts, ends = [], [], []
        for stream in self.streams:
            for slot in stream.slots:
                cids.append(stream.client_id)
                starts.append(slot.start_round)
                ends.append(slot.end_round)
        return (
            np.asarray(cids, dtype=np.int64),
            np.asarray(starts, dtype=np.int64),
            np.asarray(ends, dtype=np.int64),
        )

    def active_clients(self, server_round: int) -> Sequence[int]:
        """Return the sorted ids of clients that have a task to train in ``server_round``.

        One vectorised test over every slot (the round loop asks every round: scanning the
        streams in Python cost 15-70 ms a round at 100,000 clients); ``range(num_clients)``
        or ``[]`` without building a stream when lazy streams state their ``active_rounds``.
        """
        schedule = getattr(self.streams, "active_rounds", None)
        if schedule is not None:
            return range(self.num_clients) if schedule[0] <= server_round <= schedule[1] else []
        cids, starts, ends = self._slot_rounds
        ids = cids[(starts <= server_round) & (server_round <= ends)]
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            ids = np.unique(ids)  # a client with overlapping slots, or unordered streams
        return ids.tolist()
