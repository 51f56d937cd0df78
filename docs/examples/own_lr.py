"""Bring your own LR controller: exponential decay of the clients' learning rate.

``client_config(round)`` puts ``lr = lr_0 * gamma ** (round - 1)`` into each round's
ConfigRecord; the server applies the aggregate as is (server LR 1). Its only state is a
function of the round, so ``state_dict`` is empty and a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence

from flwr.app import ArrayRecord, Message

from fedsim.interfaces import LRController


class ExponentialLR(LRController):
    """``lr_t = lr * gamma ** (t - 1)`` on the clients, server LR 1.

    Parameters
    ----------
    lr : float
        The first round's client learning rate (``train.lr``, > 0).
    gamma : float
        Decay per round, in (0, 1].
    buffer_keys : Sequence[str]
        Model buffers (part of the controllers' construction contract; unused here).
    """

    def __init__(self, lr: float, *, gamma: float = 0.9, buffer_keys: Sequence[str] = ()) -> None:
        if not float(lr) > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0 < float(gamma) <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.lr, self.gamma, self.current = float(lr), float(gamma), float(lr)

    def client_config(self, server_round: int) -> dict[str, float]:
        """The round's client LR."""
        self.current = self.lr * self.gamma ** (server_round - 1)
        return {"lr": self.current}

    def server_step(self, server_round: int, previous: ArrayRecord, aggregated: ArrayRecord,
                    replies: Sequence[Message]) -> ArrayRecord:
        """Server LR 1: the aggregate is the new global model."""
        return aggregated

    def scalars(self) -> dict[str, float]:
        """TensorBoard ``lr/client_mean`` and ``lr/server``."""
        return {"lr/client_mean": self.current, "lr/server": 1.0}

    def state_dict(self) -> dict:
        """Nothing evolves that the round does not determine."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Stateless."""
