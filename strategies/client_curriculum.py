"""Client-level curriculum: order and pace *clients* by the difficulty they report.

Vahidian et al., "When Do Curricula Work in Federated Learning?" (ICCV 2023), client
curriculum of the official code (``ClientScheduler`` + the main loop of
``main_fedavg_curr_lg_loss``, sreevatsank1999/Curriculum-FL), as a selection wrapper that works
with any strategy (it only decides the round's cohort):

* the budget is ``T = rounds * m`` client updates (``m`` the per-round cohort size);
* at the start of a *sweep*, the active clients are ranked by score - ascending for
  ``curriculum`` (easiest first), descending for ``anti``, a random permutation for ``random``;
* the pool is the first ``g(u)`` ranked clients, ``g`` a pacing function of
  :mod:`scenarios.curricula.pacing` over ``N`` = active clients and ``u`` = client updates so
  far; the pool is shuffled and consumed in groups of ``m``, one group per round; when it is
  exhausted a new sweep re-ranks and re-paces. With ``ordering: random`` and ``pacing: step``,
  ``a = b = 1`` this is the paper's "curriculum off": random selection without replacement
  within a sweep.

Departure from the paper: the official code scores *every* client with the global model at the
start of each sweep (the server holds all data). A federated server cannot, so a client's score
is the ``difficulty`` metric it reported the last time it trained (mean loss of the then-global
model on its task data); clients that never trained get the mean known score, and ties are
broken at random per sweep.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fedsim import wire
from fedsim.interfaces import ClientSelection
from fedsim.seeding import rng_for
from scenarios.curricula.pacing import check_pacing, pacing_size
from strategies.selection import check_cohort, cohort_size

ORDERINGS = ("curriculum", "anti", "random")


class ClientCurriculum(ClientSelection):
    """Select each round's cohort from a paced pool of clients ranked by reported difficulty.

    Parameters
    ----------
    ordering : str
        ``curriculum`` (easiest clients first), ``anti`` (hardest first) or ``random``.
    pacing : str
        Pacing function name (linear | quad | sqrt | step | exp | log).
    pacing_a, pacing_b : float
        Fraction of the update budget at which all clients are in the pool, and the starting
        fraction of clients.
    fraction, min_clients, max_clients : float, int, int or None
        Cohort size per round, as for uniform selection (``federation.*``).
    seed : int
        Run seed (sweep shuffles are functions of seed and round).
    num_rounds : int, optional
        Rounds of the run (the budget); set by the server through :meth:`bind`.
    signal : str
        Train metric used as the client's score (default ``difficulty``).
    """

    def __init__(
        self,
        ordering: str = "curriculum",
        pacing: str = "linear",
        pacing_a: float = 0.8,
        pacing_b: float = 0.2,
        fraction: float = 1.0,
        min_clients: int = 1,
        max_clients: int | None = None,
        seed: int = 0,
        num_rounds: int | None = None,
        signal: str = wire.DIFFICULTY,
    ) -> None:
        if ordering not in ORDERINGS:
            raise ValueError(f"ordering '{ordering}' unknown; allowed: {', '.join(ORDERINGS)}")
        check_pacing(pacing, pacing_a, pacing_b)
        check_cohort(fraction, min_clients, max_clients)
        self.ordering, self.pacing = ordering, pacing
        self.a, self.b = float(pacing_a), float(pacing_b)
        self.fraction, self.min_clients = float(fraction), int(min_clients)
        self.max_clients = None if max_clients is None else int(max_clients)
        self.seed, self.signal = int(seed), str(signal)
        self.num_rounds = None if num_rounds is None else int(num_rounds)
        self.num_clients: int | None = None
        self.scores: dict[int, float] = {}
        self.remaining: list[int] = []
        self.updates = 0
        self.sweeps = 0
        self.pool_size = 0
        self.last: dict[str, float] = {}
        self.why = ""

    def bind(self, *, num_rounds: int, num_clients: int) -> None:
        """Receive the run's length and federation size (called once by the server)."""
        if self.num_rounds is None:
            self.num_rounds = int(num_rounds)
        self.num_clients = int(num_clients)

    def cohort_size(self, n: int) -> int:
        """Clients per round among ``n`` candidates (same rule as uniform selection)."""
        return cohort_size(n, self.fraction, self.min_clients, self.max_clients)

    def rank(self, active: list[int], rng: np.random.Generator) -> list[int]:
        """Rank ``active`` clients by score for the configured ordering (random tie-break)."""
        shuffled = [int(c) for c in rng.permutation(sorted(active))]
        if self.ordering == "random":
            return shuffled
        known = [self.scores[c] for c in active if c in self.scores]
        fill = float(np.mean(known)) if known else 0.0
        keys = np.array([self.scores.get(c, fill) for c in shuffled])
        idx = np.argsort(keys if self.ordering == "curriculum" else -keys, kind="stable")
        return [shuffled[i] for i in idx]

    def select(self, server_round: int, active: list[int]) -> list[int]:
        """Return the sorted cohort of ``server_round``."""
        if not active:
            self.last, self.why = {}, f"round {server_round}: no active client"
            return []
        live = set(int(c) for c in active)
        self.remaining = [c for c in self.remaining if c in live]
        m = self.cohort_size(len(active))
        if not self.remaining:
            self._new_sweep(server_round, sorted(live))
        cohort = sorted(self.remaining[:m])
        self.remaining = self.remaining[m:]
        self.updates += len(cohort)
        known = [self.scores[c] for c in cohort if c in self.scores]
        self.last = {
            "client_pool_fraction": self.pool_size / len(active),
            "client_sweep": float(self.sweeps),
            "client_updates": float(self.updates),
        }
        if known:
            self.last["selected_difficulty"] = float(np.mean(known))
        shown = ", ".join(
            f"{c} ({self.scores[c]:.3f})" if c in self.scores else f"{c} (unscored)" for c in cohort
        )
        self.why = (
            f"round {server_round}: sweep {self.sweeps}, pool of the first {self.pool_size}/"
            f"{len(active)} active clients ranked {self.ordering} by '{self.signal}' "
            f"({self.pacing} a={self.a} b={self.b}, {self.updates} client updates); "
            f"selected: {shown}"
        )
        return cohort

    def _new_sweep(self, server_round: int, active: list[int]) -> None:
        rng = rng_for(self.seed, "client-curriculum", server_round)
        ranked = self.rank(active, rng)
        rounds = self.num_rounds or 1
        budget = max(rounds * self.cohort_size(self.num_clients or len(active)), 1)
        self.pool_size = pacing_size(
            self.pacing, self.a, self.b, min(self.updates, budget), budget, len(ranked)
        )
        pool = ranked[: self.pool_size]
        self.remaining = [pool[i] for i in rng.permutation(len(pool))]
        self.sweeps += 1

    def client_config(self) -> dict[str, bool]:
        """Items for every train config: ask clients to report ``difficulty`` when it is used."""
        return {wire.REPORT_DIFFICULTY: True} if self.signal == wire.DIFFICULTY else {}

    def observe(self, server_round: int, metrics: Mapping[int, Mapping[str, float]]) -> None:
        """Record each replying client's reported score (its train metrics of this round)."""
        for cid, values in metrics.items():
            if self.signal in values:
                self.scores[int(cid)] = float(values[self.signal])

    def scalars(self) -> dict[str, float]:
        """Curriculum state of the last selection, for TensorBoard."""
        return dict(self.last)

    def explain(self) -> str:
        """Why the last cohort was selected (one line)."""
        return self.why

    def state_dict(self) -> dict:
        """Checkpointable state."""
        return {
            "scores": dict(self.scores),
            "remaining": list(self.remaining),
            "updates": self.updates,
            "sweeps": self.sweeps,
            "pool_size": self.pool_size,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.scores = {int(k): float(v) for k, v in state["scores"].items()}
        self.remaining = [int(c) for c in state["remaining"]]
        self.updates, self.sweeps = int(state["updates"]), int(state["sweeps"])
        self.pool_size = int(state["pool_size"])
