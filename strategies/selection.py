"""Client selection: which of the round's active clients train (deterministic per round)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fedsim.interfaces import ClientSelection
from fedsim.seeding import rng_for
from fedsim.stateful import Stateless


def check_cohort(fraction: float, min_clients: int, max_clients: int | None) -> None:
    """Refuse cohort-size arguments no selection can honour (``ValueError``)."""
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if int(min_clients) < 1:
        raise ValueError(f"min_clients must be >= 1, got {min_clients}")
    if max_clients is not None and int(max_clients) < int(min_clients):
        raise ValueError(f"max_clients ({max_clients}) must be >= min_clients ({min_clients})")


def cohort_size(n: int, fraction: float, min_clients: int, max_clients: int | None) -> int:
    """Clients per round among ``n`` candidates: ``ceil(fraction n)`` within the bounds, <= n."""
    k = max(min_clients, math.ceil(fraction * n))
    if max_clients is not None:
        k = min(k, max_clients)
    return min(k, n)


class UniformSelection(Stateless, ClientSelection):
    """Sample a fraction of the active clients uniformly, as a function of (seed, round).

    Stateless: a resumed run draws the same cohorts without any saved state.

    Parameters
    ----------
    fraction : float
        Share of active clients to train each round, in (0, 1].
    min_clients : int
        Lower bound on the cohort (capped by the number of active clients).
    max_clients : int, optional
        Upper bound on the cohort (None: no bound).
    seed : int
        Run seed.
    """

    def __init__(
        self,
        fraction: float = 1.0,
        min_clients: int = 1,
        max_clients: int | None = None,
        seed: int = 0,
    ) -> None:
        check_cohort(fraction, min_clients, max_clients)
        self.fraction = float(fraction)
        self.min_clients = int(min_clients)
        self.max_clients = None if max_clients is None else int(max_clients)
        self.seed = int(seed)

    def select(self, server_round: int, active: Sequence[int]) -> list[int]:
        """Return the sorted cohort for ``server_round``."""
        n = len(active)
        if n == 0:
            return []
        k = cohort_size(n, self.fraction, self.min_clients, self.max_clients)
        if k == n:
            return sorted(active)
        rng = rng_for(self.seed, "select", server_round)
        if isinstance(active, range):  # every client (a lazy plan): no O(clients) list
            # Generator.choice(array) draws positions as choice(len(array)) and indexes:
            # the same cohort as from np.asarray(sorted(active)), without building it
            return sorted(active[int(i)] for i in rng.choice(n, size=k, replace=False))
        chosen = rng.choice(np.asarray(sorted(active)), size=k, replace=False)
        return sorted(int(c) for c in chosen)
