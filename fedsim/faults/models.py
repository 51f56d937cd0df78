"""Fault injection: a seeded map (seed, round, client) -> the fault that client simulates.

The round loop asks :meth:`FaultModel.fault_for` for every cohort client; the returned items
travel in that client's ConfigRecord (``fedsim.fault`` ...) and
:mod:`fedsim.faults.client` executes them inside the ClientApp. ``unavailable`` is handled by
the server (the client is removed from the cohort before anything is sent).
"""

from __future__ import annotations

from fedsim import wire
from fedsim.seeding import rng_for
from fedsim.stateful import Stateless

#: Per-round faults, drawn independently for each (round, client), mutually exclusive.
ROUND_FAULTS = ("crash", "unavailable", "straggler", "nan", "inf", "wrong_shape", "missing_key")
ADVERSARIAL_MODES = ("sign_flip", "scale")


class NoFaults(Stateless):
    """Inject nothing (the fault-free default)."""

    def __init__(self, seed: int = 0, num_clients: int | None = None) -> None:
        self.seed = seed

    def fault_for(self, server_round: int, client_id: int, attempt: int = 0) -> dict:
        """Return the fault config items for a client in a round (none here)."""
        return {}


class FaultModel(Stateless):
    """Seeded, reproducible client faults (a pure function of seed, round, client: no state).

    Each cohort client of each round draws one uniform number from
    ``rng_for(seed, "fault", round, client, attempt)``; the per-round rates partition
    [0, 1) into crash | unavailable | straggler | nan | inf | wrong_shape | missing_key | none.
    Adversarial clients are a fixed set (``adversarial_fraction`` of all clients, chosen by
    the seed): whenever they train and no other fault hits them, they send
    ``global + s * (local - global)`` with ``s = -adversarial_scale`` (sign flip) or
    ``s = adversarial_scale`` (scaled update), the model-replacement/sign-flipping attacks of
    Bagdasaryan et al. 2020 and Blanchard et al. 2017 (the Krum paper's Byzantine clients).

    Parameters
    ----------
    seed : int
        Run seed.
    num_clients : int, optional
        Number of clients of the plan (needed for ``adversarial_fraction > 0``).
    crash, unavailable, straggler, nan, inf, wrong_shape, missing_key : float
        Probability of each fault per (round, client); their sum must be <= 1.
    straggler_delay_s : float
        A straggler's simulated delay: it misses ``federation.round_timeout`` when the delay
        is at least the timeout (nothing sleeps; the deadline is decided by this number, so
        a run, and a resumed run, are deterministic); with a delay below the timeout or no
        timeout it answers in time.
    adversarial_fraction : float
        Share of clients that are adversarial, in [0, 1].
    adversarial_mode : str
        ``sign_flip`` or ``scale``.
    adversarial_scale : float
        Magnitude of the attack factor (> 0).
    start_round : int
        First round in which faults are injected (>= 1).
    """

    def __init__(
        self,
        seed: int = 0,
        num_clients: int | None = None,
        *,
        crash: float = 0.0,
        unavailable: float = 0.0,
        straggler: float = 0.0,
        nan: float = 0.0,
        inf: float = 0.0,
        wrong_shape: float = 0.0,
        missing_key: float = 0.0,
        straggler_delay_s: float = 5.0,
        adversarial_fraction: float = 0.0,
        adversarial_mode: str = "sign_flip",
        adversarial_scale: float = 1.0,
        start_round: int = 1,
    ) -> None:
        rates = {
            "crash": crash,
            "unavailable": unavailable,
            "straggler": straggler,
            "nan": nan,
            "inf": inf,
            "wrong_shape": wrong_shape,
            "missing_key": missing_key,
        }
        for key, value in rates.items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"faults.{key} must be in [0, 1], got {value}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"faults: per-round rates sum to {sum(rates.values()):g} > 1")
        if not float(straggler_delay_s) > 0:
            raise ValueError(f"faults.straggler_delay_s must be > 0, got {straggler_delay_s}")
        if not 0.0 <= float(adversarial_fraction) <= 1.0:
            raise ValueError(
                f"faults.adversarial_fraction must be in [0, 1], got {adversarial_fraction}"
            )
        if adversarial_mode not in ADVERSARIAL_MODES:
            raise ValueError(
                f"faults.adversarial_mode: unknown value '{adversarial_mode}', "
                f"allowed: {', '.join(ADVERSARIAL_MODES)}"
            )
        if not float(adversarial_scale) > 0:
            raise ValueError(f"faults.adversarial_scale must be > 0, got {adversarial_scale}")
        if int(start_round) < 1:
            raise ValueError(f"faults.start_round must be >= 1, got {start_round}")
        if float(adversarial_fraction) > 0 and num_clients is None:
            raise ValueError("faults.adversarial_fraction needs the number of clients")
        self.seed = int(seed)
        self.rates = {k: float(v) for k, v in rates.items()}
        self.straggler_delay_s = float(straggler_delay_s)
        self.mode = adversarial_mode
        self.scale = float(adversarial_scale)
        self.start_round = int(start_round)
        self.adversaries: frozenset[int] = frozenset()
        if num_clients and adversarial_fraction > 0:
            k = int(round(float(adversarial_fraction) * int(num_clients)))
            order = rng_for(self.seed, "adversaries").permutation(int(num_clients))
            self.adversaries = frozenset(int(c) for c in order[:k])

    def kind_for(self, server_round: int, client_id: int, attempt: int = 0) -> str | None:
        """Return the fault kind of a client in a round (None: behaves)."""
        if server_round < self.start_round:
            return None
        u = rng_for(self.seed, "fault", server_round, client_id, attempt).random()
        edge = 0.0
        for kind in ROUND_FAULTS:
            edge += self.rates[kind]
            if u < edge:
                return kind
        return "adversarial" if client_id in self.adversaries else None

    def fault_for(self, server_round: int, client_id: int, attempt: int = 0) -> dict:
        """Return the ConfigRecord items that make the client simulate its fault."""
        kind = self.kind_for(server_round, client_id, attempt)
        if kind is None:
            return {}
        items: dict = {wire.FAULT: kind}
        if kind == "straggler":
            items[wire.FAULT_DELAY] = self.straggler_delay_s
        elif kind == "adversarial":
            items[wire.FAULT_SCALE] = -self.scale if self.mode == "sign_flip" else self.scale
        return items
