"""Client learners: what a client trains and sends for a given family of strategies.

:data:`LEARNERS` is the one registry: the name a strategy's config gives in
``client_learner`` -> ``"module:Class"`` of a :class:`~fedsim.interfaces.ClientLearner`
(imported on first use, so a weights-only run never imports the adapter stack). A new
learner is one module here plus one line in :data:`LEARNERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from fedsim.interfaces import ClientLearner

LEARNERS: Mapping[str, str] = MappingProxyType(
    {
        "weights": "fedsim.client.learners.weights:WeightsLearner",
        "prototypes": "fedsim.client.learners.prototypes:PrototypeLearner",
        "adapters": "fedsim.client.learners.adapters:AdapterLearner",
        "pilora": "fedsim.client.learners.pilora:PILoRALearner",
    }
)


def get_learner(name: str) -> ClientLearner:
    """Return an instance of the learner registered under ``name``."""
    if name not in LEARNERS:
        raise ValueError(
            f"strategy.client_learner: unknown learner '{name}', "
            f"allowed: {', '.join(sorted(LEARNERS))}"
        )
    module, cls = LEARNERS[name].split(":")
    return vars(importlib.import_module(module))[cls]()


__all__ = ["LEARNERS", "ClientLearner", "get_learner"]
