"""Write your own strategy: FedAvg with server-side clipping of each client's update norm.

A complete fedsim strategy, used from a config alone (``docs/extending.md``)::

    _target_: docs.examples.my_strategy.ClippedFedAvg
    name: clipped_fedavg
    client_learner: weights      # the client half: plain weight training
    max_norm: 1.0

Each client's update ``u_k = w_k - w`` (``w`` the global arrays the round started from) is
scaled to an L2 norm of at most ``max_norm`` over all its arrays, then the updates are
averaged weighted by ``num-examples``: ``w' = w + sum_k n_k / n * clip(u_k)``. One outlying
client can move the model by at most ``max_norm``.

It subclasses Flower's ``FedAvg`` (sampling, messages and metric aggregation stay Flower's)
and :class:`fedsim.interfaces.StrategyHooks` for one optional fedsim hook,
:meth:`~fedsim.interfaces.StrategyHooks.tensorboard`. The maths is a free function, so a test
can check it on hand-made arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from fedsim.interfaces import StrategyHooks


def clipped_mean(
    start: Mapping[str, np.ndarray],
    clients: Sequence[Mapping[str, np.ndarray]],
    weights: Sequence[float],
    max_norm: float,
) -> tuple[dict[str, np.ndarray], int]:
    """Return ``start + sum_k w_k / sum(w) * clip(clients[k] - start)`` and how many were clipped.

    Parameters
    ----------
    start : mapping of str to numpy.ndarray
        The global arrays the round started from.
    clients : sequence of mappings
        Each client's arrays (same keys and shapes as ``start``).
    weights : sequence of float
        Each client's weight (its number of training examples).
    max_norm : float
        Largest L2 norm of one client's update over all its arrays (> 0).
    """
    total = float(sum(weights))
    new = {k: np.asarray(v, dtype=np.float64).copy() for k, v in start.items()}
    clipped = 0
    for arrays, weight in zip(clients, weights, strict=True):
        update = {k: np.asarray(arrays[k], dtype=np.float64) - s for k, s in start.items()}
        norm = float(np.sqrt(sum(float(np.sum(u * u)) for u in update.values())))
        scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
        clipped += scale < 1.0
        for k, u in update.items():
            new[k] += (float(weight) / total) * scale * u
    return {k: v.astype(np.asarray(start[k]).dtype) for k, v in new.items()}, clipped


class ClippedFedAvg(FedAvg, StrategyHooks):
    """FedAvg over client updates clipped to ``max_norm`` (server side).

    Parameters
    ----------
    max_norm : float
        Largest L2 norm of one client's update (> 0).
    **kwargs
        Flower ``FedAvg`` arguments (the engine passes the sampling ones).
    """

    def __init__(self, *, max_norm: float = 1.0, **kwargs: Any) -> None:
        if not float(max_norm) > 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm}")
        super().__init__(**kwargs)
        self.max_norm = float(max_norm)
        self.start: ArrayRecord | None = None
        self.clipped_share = 0.0

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Remember the arrays the round starts from, then let Flower build the messages."""
        self.start = arrays
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Average the clipped updates; metrics as Flower's FedAvg."""
        contents = [m.content for m in replies if m.has_content()]
        if not contents or self.start is None:
            return None, None
        start = {k: self.start[k].numpy() for k in self.start.keys()}
        clients = [{k: c[wire.ARRAYS][k].numpy() for k in start} for c in contents]
        weights = [float(c[wire.METRICS][wire.NUM_EXAMPLES]) for c in contents]
        new, clipped = clipped_mean(start, clients, weights, self.max_norm)
        self.clipped_share = clipped / len(contents)
        metrics = self.train_metrics_aggr_fn(contents, self.weighted_by_key)
        return ArrayRecord({k: Array(new[k]) for k in start}), metrics

    def tensorboard(self, sink, server_round: int) -> None:
        """Log the share of this round's clients whose update was clipped."""
        sink.scalars(server_round, {"strategy/clipped_share": self.clipped_share})
