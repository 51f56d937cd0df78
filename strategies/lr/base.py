"""The learning-rate controller interface used by the round loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from flwr.app import ArrayRecord, Message


class LRController(Protocol):
    """Decides the clients' local LR each round and the server LR applied to aggregates.

    The round loop calls :meth:`client_config` before sending train messages (its items are
    merged into the round's ConfigRecord), and :meth:`server_step` after the strategy has
    aggregated, with the previous global arrays, the strategy's aggregate and the (valid,
    sorted) replies; it returns the new global arrays. Its state is part of the
    checkpointable server state.

    Construction contract: ``Controller(lr=train.lr, buffer_keys=...)`` plus its own config
    keys; ``buffer_keys`` names the global arrays that are model buffers, not parameters
    (BatchNorm statistics), which a controller must not treat as part of an update.
    """

    def client_config(self, server_round: int) -> dict[str, float | int | str | bool]:
        """Items to put in the round's train ConfigRecord (at least ``lr``)."""
        ...

    def server_step(
        self,
        server_round: int,
        previous: ArrayRecord,
        aggregated: ArrayRecord,
        replies: Sequence[Message],
    ) -> ArrayRecord:
        """Return the new global arrays."""
        ...

    def scalars(self) -> dict[str, float]:
        """Values to log (e.g. ``lr/server``)."""
        ...

    def state_dict(self) -> dict:
        """Picklable controller state."""
        ...

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        ...
