"""Capture and restore a strategy's evolving state for checkpoints.

A strategy that implements :class:`~fedsim.stateful.Stateful` is asked directly. Flower's own
Message-API strategies keep their state in attributes: the FedOpt family (FedAdam, FedYogi,
FedAdagrad) in ``current_arrays``, ``m_t`` and ``v_t``, FedAvgM in ``current_arrays`` and
``momentum_vector``; those attributes are snapshotted as they are (numpy arrays,
ArrayRecords), copied. fedsim's own strategies keep their banks (prototypes, adapters) in the
global arrays, which the server state holds anyway. The checkpoint codec refuses anything
that is not data.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord

from fedsim.stateful import Stateful

#: Attributes in which flwr.serverapp strategies keep state across rounds.
FLOWER_STATE_ATTRS = ("current_arrays", "m_t", "v_t", "momentum_vector")


def _copy(value: Any) -> Any:
    """A deep copy that keeps ArrayRecords and numpy arrays as such (data for the codec)."""
    if isinstance(value, ArrayRecord):
        return ArrayRecord({k: Array(value[k].numpy().copy()) for k in value.keys()})
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def strategy_state(strategy: Any) -> dict:
    """Return a snapshot (data only) of ``strategy``'s evolving state."""
    if isinstance(strategy, Stateful):
        return {"own": strategy.state_dict()}
    held = vars(strategy)
    return {
        "attrs": {
            name: _copy(held[name])
            for name in FLOWER_STATE_ATTRS
            if held.get(name) is not None
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
        setattr(strategy, name, _copy(value))
