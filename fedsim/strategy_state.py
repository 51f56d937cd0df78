"""Capture and restore a strategy's evolving state for checkpoints.

A strategy that defines ``state_dict()`` / ``load_state_dict(state)`` is asked directly.
Flower's own Message-API strategies keep their state in attributes: the FedOpt family
(FedAdam, FedYogi, FedAdagrad) in ``current_arrays``, ``m_t`` and ``v_t``, FedAvgM in
``current_arrays`` and ``momentum_vector``; those attributes are snapshotted as numpy values.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord

#: Attributes in which flwr.serverapp strategies keep state across rounds.
FLOWER_STATE_ATTRS = ("current_arrays", "m_t", "v_t", "momentum_vector")


def _pack(value: Any) -> Any:
    if isinstance(value, ArrayRecord):
        return {"__arrayrecord__": [(k, value[k].numpy()) for k in value.keys()]}
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_pack(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def _unpack(value: Any) -> Any:
    if isinstance(value, dict) and "__arrayrecord__" in value:
        return ArrayRecord({k: Array(np.asarray(a)) for k, a in value["__arrayrecord__"]})
    if isinstance(value, dict):
        return {k: _unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value


def strategy_state(strategy: Any) -> dict:
    """Return a picklable snapshot of ``strategy``'s evolving state."""
    own = getattr(strategy, "state_dict", None)
    if callable(own):
        return {"own": own()}
    return {
        "attrs": {
            name: _pack(getattr(strategy, name))
            for name in FLOWER_STATE_ATTRS
            if getattr(strategy, name, None) is not None
        }
    }


def load_strategy_state(strategy: Any, state: dict) -> None:
    """Restore a snapshot made by :func:`strategy_state` into a freshly built strategy."""
    if not state:
        return
    if "own" in state:
        strategy.load_state_dict(state["own"])
        return
    for name, value in state.get("attrs", {}).items():
        setattr(strategy, name, _unpack(value))
