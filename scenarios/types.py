"""Types shared by every scenario: tasks, per-client task slots, client streams and the plan.

A plan holds *indices* into a data source's train/test arrays, never copies of data
(DESIGN.md rule 6). Rounds are 1-based, as in Flower (`server-round`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def seen_positions(self, server_round: int) -> list[int]:
        """Return positions of the slots started on or before ``server_round``."""
        return [p for p, s in enumerate(self.slots) if s.start_round <= server_round]

    def ending_at(self, server_round: int) -> int | None:
        """Return the position of the slot whose last round is ``server_round``, if any."""
        for pos, slot in enumerate(self.slots):
            if slot.end_round == server_round:
                return pos
        return None


@dataclass(frozen=True)
class ScenarioPlan:
    """Everything the federation will live through: global tasks and one stream per client.

    Parameters
    ----------
    kind : str
        Generator name, e.g. ``"class_incremental"``.
    tasks : tuple[Task, ...]
        Global task definitions, indexed by ``task_id``.
    streams : tuple[ClientStream, ...]
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
    streams: tuple[ClientStream, ...]
    num_rounds: int
    num_classes: int
    task_incremental: bool = False
    info: dict = field(default_factory=dict)

    @property
    def num_clients(self) -> int:
        """Number of clients in the federation."""
        return len(self.streams)

    def active_clients(self, server_round: int) -> list[int]:
        """Return the sorted ids of clients that have a task to train in ``server_round``."""
        return [s.client_id for s in self.streams if s.slot_at(server_round) is not None]
