"""Fault injection (placeholder of the reliability work): the fault-free default."""

from __future__ import annotations


class NoFaults:
    """Inject nothing. A fault model maps (seed, round, client) to a fault for that client."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fault_for(self, server_round: int, client_id: int) -> dict:
        """Return the fault config items for a client in a round (none here)."""
        return {}
