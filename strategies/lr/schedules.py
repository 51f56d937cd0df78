"""Round-indexed step and cosine learning-rate schedules: the non-adaptive baselines."""

from __future__ import annotations

import math
from collections.abc import Sequence

from flwr.app import ArrayRecord, Message

from fedsim.interfaces import LRController
from strategies.lr.hypergrad import apply_global, check_rate, update_of

TARGETS = ("client", "server")


class ScheduledLR(LRController):
    """A fixed schedule of the client LR (or of the server LR applied to ``Delta_t``).

    ``kind="step"``: factor ``gamma ** floor((t - 1) / step_rounds)`` (step decay; the
    FedHyper paper's "step decay" baseline). ``kind="cosine"``: factor ``min_factor + (1 -
    min_factor) (1 + cos(pi * min(t - 1, period) / period)) / 2`` (Loshchilov & Hutter,
    SGDR, ICLR 2017, without restarts). With ``target="client"`` the factor scales the
    clients' LR ``train.lr``; with ``target="server"`` it scales the aggregated update,
    ``theta_{t+1} = theta_t + factor * Delta_t`` (the FedHyper code's Decay-G is ``kind=step,
    step_rounds=1, gamma=0.995, target=server``).

    Parameters
    ----------
    lr : float
        Initial client LR (``train.lr``).
    kind : str
        ``"step"`` or ``"cosine"``.
    target : str
        ``"client"`` or ``"server"``.
    step_rounds : int
        Rounds between decays (step).
    gamma : float
        Decay factor per step, in ``(0, 1]`` (step).
    period : int
        Rounds to reach ``min_factor`` (cosine); the factor then stays there.
    min_factor : float
        Final factor, in ``[0, 1]`` (cosine).
    buffer_keys : Sequence[str]
        Keys of model buffers (e.g. BatchNorm statistics): not scaled by a server-LR schedule,
        they keep the strategy's aggregate.
    """

    def __init__(
        self,
        lr: float,
        *,
        kind: str = "step",
        target: str = "client",
        step_rounds: int = 10,
        gamma: float = 0.5,
        period: int = 50,
        min_factor: float = 0.0,
        buffer_keys: Sequence[str] = (),
    ) -> None:
        self.lr0 = check_rate("lr", lr)
        if kind not in ("step", "cosine"):
            raise ValueError(f"kind: unknown value '{kind}', allowed: step, cosine")
        if target not in TARGETS:
            raise ValueError(f"target: unknown value '{target}', allowed: {', '.join(TARGETS)}")
        if int(step_rounds) < 1:
            raise ValueError(f"step_rounds must be >= 1, got {step_rounds}")
        if int(period) < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.gamma = check_rate("gamma", gamma)
        if self.gamma > 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.min_factor = check_rate("min_factor", min_factor, allow_zero=True)
        if self.min_factor > 1:
            raise ValueError(f"min_factor must be in [0, 1], got {min_factor}")
        self.kind, self.target = kind, target
        self.step_rounds, self.period = int(step_rounds), int(period)
        self.round = 0
        self.buffer_keys = frozenset(str(k) for k in buffer_keys)

    def factor(self, server_round: int) -> float:
        """The schedule's factor in round ``server_round`` (1 in round 1)."""
        t = max(int(server_round) - 1, 0)
        if self.kind == "step":
            return self.gamma ** (t // self.step_rounds)
        frac = min(t, self.period) / self.period
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * frac))

    def client_config(self, server_round: int) -> dict[str, float]:
        """Send the scheduled (or constant) client LR."""
        self.round = int(server_round)
        f = self.factor(server_round) if self.target == "client" else 1.0
        return {"lr": self.lr0 * f}

    def server_step(
        self,
        server_round: int,
        previous: ArrayRecord,
        aggregated: ArrayRecord,
        replies: Sequence[Message],
    ) -> ArrayRecord:
        """Apply ``factor * Delta_t`` (server target) or the aggregate as is."""
        self.round = int(server_round)
        if self.target == "client":
            return aggregated
        delta = update_of(previous, aggregated, self.buffer_keys)
        return apply_global(previous, aggregated, delta, self.factor(server_round))

    def scalars(self) -> dict[str, float]:
        """Server and client LR of the current round."""
        f = self.factor(self.round)
        client = self.lr0 * f if self.target == "client" else self.lr0
        return {"lr/client_mean": client, "lr/server": f if self.target == "server" else 1.0}

    def state_dict(self) -> dict:
        """The last round seen (the schedule itself is a function of the round)."""
        return {"round": self.round}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.round = int(state.get("round", 0))
