"""A strategy of its own: FedAvg with a server step size (a damped average)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg


class DampedFedAvg(FedAvg):
    """``w' = w + eta * (FedAvg(w_1..w_K) - w)``: FedAvg's update scaled by ``eta``.

    Parameters
    ----------
    eta : float
        Server step size in (0, 1]; 1 is FedAvg.
    **flower_args
        Flower ``FedAvg`` arguments (fedsim passes the sampling ones).
    """

    def __init__(self, eta: float = 0.5, **flower_args: Any) -> None:
        if not 0.0 < float(eta) <= 1.0:
            raise ValueError(f"eta must be in (0, 1], got {eta}")
        super().__init__(**flower_args)
        self.eta = float(eta)
        self.start: ArrayRecord | None = None

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Remember the round's starting arrays."""
        self.start = arrays
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Flower's average, then a step of ``eta`` towards it."""
        avg, metrics = super().aggregate_train(server_round, replies)
        if avg is None or self.start is None:
            return avg, metrics
        new = {}
        for key in self.start.keys():
            w, a = self.start[key].numpy(), avg[key].numpy()
            new[key] = Array((w + self.eta * (a - w)).astype(w.dtype))
        return ArrayRecord(new), metrics
