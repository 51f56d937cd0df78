"""Capture and restore a strategy's evolving state for checkpoints.

A strategy that implements :class:`~fedsim.stateful.Stateful` is asked directly. Flower's own
Message-API strategies keep their state in attributes: the FedOpt family (FedAdam, FedYogi,
FedAdagrad) in ``current_arrays``, ``m_t`` and ``v_t``, FedAvgM in ``current_arrays`` and
``momentum_vector``; those attributes are snapshotted as they are (numpy arrays,
ArrayRecords), copied, into the typed fields of a :class:`StrategyState`. fedsim's own
strategies keep their banks (prototypes, adapters) in the global arrays, which the server
state holds anyway. The checkpoint codec refuses anything that is not data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord
from flwr.serverapp.strategy import Strategy

from fedsim.interfaces import StrategyWrapper
from fedsim.stateful import Stateful

#: Attributes in which flwr.serverapp strategies keep state across rounds.
FLOWER_STATE_ATTRS = ("current_arrays", "m_t", "v_t", "momentum_vector")


@dataclass
class StrategyState:
    """A strategy's evolving state: its own ``state_dict()``, or Flower's attributes.

    Attributes
    ----------
    own : dict or None
        The ``state_dict()`` of a :class:`~fedsim.stateful.Stateful` strategy.
    current_arrays : ArrayRecord, dict of ndarray or None
        The FedOpt family's (dict) or FedAvgM's (ArrayRecord) current global arrays.
    m_t, v_t : dict of ndarray or None
        The FedOpt family's first and second moments.
    momentum_vector : list of ndarray or None
        FedAvgM's server momentum.
    """

    own: dict[str, Any] | None = None
    current_arrays: ArrayRecord | dict[str, np.ndarray] | None = None
    m_t: dict[str, np.ndarray] | None = None
    v_t: dict[str, np.ndarray] | None = None
    momentum_vector: list[np.ndarray] | None = None

    def attrs(self) -> dict[str, Any]:
        """The Flower attributes that are set, by name."""
        values = {name: getattr(self, name) for name in FLOWER_STATE_ATTRS}
        return {name: value for name, value in values.items() if value is not None}

    def to_dict(self) -> dict[str, Any]:
        """The checkpointed form (data: dicts, lists, numpy arrays, ArrayRecords)."""
        return {"own": self.own} if self.own is not None else {"attrs": self.attrs()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> StrategyState:
        """Inverse of :meth:`to_dict` (an empty dict: no state)."""
        if "own" in state:
            return cls(own=state["own"])
        attrs = state.get("attrs", {})
        unknown = sorted(set(attrs) - set(FLOWER_STATE_ATTRS))
        if unknown:
            raise ValueError(f"unknown strategy state attribute(s) {unknown}")
        return cls(**attrs)


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


def strategy_state(strategy: Strategy) -> StrategyState:
    """Return a snapshot (data only) of ``strategy``'s evolving state.

    A :class:`~fedsim.interfaces.StrategyWrapper` (central DP) keeps its own state and its
    wrapped strategy's, captured the same way.
    """
    if isinstance(strategy, StrategyWrapper):
        inner = strategy_state(strategy.inner).to_dict()
        return StrategyState(own={"wrapper": strategy.state_dict(), "inner": inner})
    if isinstance(strategy, Stateful):
        return StrategyState(own=strategy.state_dict())
    held = vars(strategy)
    return StrategyState(
        **{
            name: _copy(held[name])
            for name in FLOWER_STATE_ATTRS
            if held.get(name) is not None
        }
    )


def load_strategy_state(strategy: Strategy, state: StrategyState) -> None:
    """Restore a snapshot made by :func:`strategy_state` into a freshly built strategy."""
    if isinstance(strategy, StrategyWrapper):
        own = state.own or {}
        if "wrapper" not in own:
            raise ValueError("checkpoint has no state of the strategy wrapper (central DP)")
        strategy.load_state_dict(own["wrapper"])
        load_strategy_state(strategy.inner, StrategyState.from_dict(own["inner"]))
        return
    if state.own is not None:
        strategy.load_state_dict(state.own)
        return
    for name, value in state.attrs().items():
        setattr(strategy, name, _copy(value))
