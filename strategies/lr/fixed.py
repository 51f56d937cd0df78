"""A fixed learning rate: the default controller."""

from __future__ import annotations

from collections.abc import Sequence

from flwr.app import ArrayRecord, Message

from fedsim.interfaces import LRController


class FixedLR(LRController):
    """Constant client LR, server LR 1 (the plain FedAvg update).

    Parameters
    ----------
    lr : float
        The clients' local learning rate (> 0).
    buffer_keys : Sequence[str]
        Part of the controllers' construction contract; a fixed rate looks at no update.
    """

    def __init__(self, lr: float, *, buffer_keys: Sequence[str] = ()) -> None:
        if not float(lr) > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.lr = float(lr)

    def client_config(self, server_round: int) -> dict[str, float]:
        """Send the constant LR."""
        return {"lr": self.lr}

    def server_step(
        self,
        server_round: int,
        previous: ArrayRecord,
        aggregated: ArrayRecord,
        replies: Sequence[Message],
    ) -> ArrayRecord:
        """Apply the aggregate as is (server LR 1)."""
        return aggregated

    def scalars(self) -> dict[str, float]:
        """Report the client LR and server LR."""
        return {"lr/client_mean": self.lr, "lr/server": 1.0}

    def state_dict(self) -> dict:
        """Stateless."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Stateless."""
