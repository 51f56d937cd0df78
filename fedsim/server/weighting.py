"""What a strategy weights client replies by: ``weighted_by_key``, for training only.

Flower's Message-API strategies (``FedAvg`` and its subclasses) take ``weighted_by_key``
(default ``num-examples``) and use it for *both* aggregations. A strategy configured to weight
its training aggregate by something else a client reports - a metric of the user's own loop
plugin, e.g. ``+strategy.weighted_by_key=my-plugin-score`` - would then fail on evaluation
replies, which carry no such metric. Here:

* a train reply must carry the strategy's key as a positive finite number, or it is rejected
  with one line naming the key (:func:`missing_weight`), like any other malformed reply;
* the federated evaluation is always averaged by the examples each client evaluated
  (:func:`aggregate_evaluation`): the accuracy of the federation, whatever trains it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from flwr.app import Message

from fedsim import wire


def weight_key(strategy: Any) -> str:
    """The reply metric ``strategy`` weights its training aggregate by."""
    return str(getattr(strategy, "weighted_by_key", wire.NUM_EXAMPLES))


def missing_weight(reply: Message, strategy: Any) -> str | None:
    """Why ``reply`` cannot be weighted by the strategy's key (naming it), or None."""
    key = weight_key(strategy)
    if key == wire.NUM_EXAMPLES or reply.has_error():
        return None  # num-examples is checked with the rest of the reply
    metrics = reply.content.metric_records.get(wire.METRICS)
    value = None if metrics is None else metrics.get(key)
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return (
            f"metric '{wire.METRICS}.{key}' (strategy.weighted_by_key) must be a positive "
            f"number, got {value!r}"
        )
    return None


def aggregate_evaluation(strategy: Any, server_round: int, replies: Sequence[Message]) -> Any:
    """``strategy.aggregate_evaluate`` weighted by ``num-examples``, whatever trains it."""
    key = weight_key(strategy)
    if key == wire.NUM_EXAMPLES:
        return strategy.aggregate_evaluate(server_round, replies)
    strategy.weighted_by_key = wire.NUM_EXAMPLES
    try:
        return strategy.aggregate_evaluate(server_round, replies)
    finally:
        strategy.weighted_by_key = key
