"""Hyper-parameters of a run for TensorBoard's HParams dashboard: the flattened config.

Every scalar leaf of the resolved config becomes one hparam named by its dotted key
(``strategy.name``, ``strategy.proximal_mu``, ``train.lr``, ``seed``...), so a Hydra multirun
sweeping any key shows that key as a column. Keys that do not change results (``output.*``,
``log.*``, ``backend.*``) and ``_target_`` class paths (the ``name`` next to them says the same)
are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOT_HPARAMS = ("output", "log", "backend", "hydra")


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become their string form."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, prefix=f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = str(list(value))
        else:
            out[name] = value
    return out


def hparams_of(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The run's hparams: flattened config minus outputs, logging, backend and ``_target_``."""
    flat = flatten({k: v for k, v in cfg.items() if k not in NOT_HPARAMS})
    return {
        k: ("null" if v is None else v)
        for k, v in sorted(flat.items())
        if not k.endswith("._target_")
    }
