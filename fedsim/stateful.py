"""The interface of every server-side component whose state evolves during a run.

LR controllers, client selections, fault models and the virtual grid's deadline bookkeeping
implement it; :class:`~fedsim.server.state.ServerState` captures their state into typed fields
before each checkpoint and restores it on resume (DESIGN.md rule 3). A component that keeps
nothing between rounds returns ``{}``. ``state_dict`` must return *data* —
JSON scalars, lists, dicts, tuples, bytes, numpy arrays/scalars, Flower Array/ConfigRecords —
or saving the checkpoint fails (:mod:`fedsim.server.checkpoint_codec`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Stateful(Protocol):
    """A component with checkpointable state."""

    def state_dict(self) -> dict:
        """Return everything that evolves (a fresh copy, data only)."""
        ...

    def load_state_dict(self, state: dict) -> None:
        """Restore a value returned by :meth:`state_dict` into a freshly built component."""
        ...


class Stateless:
    """Mixin for components that keep nothing between rounds (pure functions of the seed)."""

    def state_dict(self) -> dict:
        """Nothing evolves."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Accept only the empty state."""
        if state:
            raise ValueError(
                f"{type(self).__name__} keeps no state, got a checkpoint with {sorted(state)}"
            )
