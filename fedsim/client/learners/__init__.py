"""Client learners: what a client trains and sends for a given family of strategies.

:data:`LEARNERS` is the one registry: the name a strategy's config gives in
``client_learner`` -> ``"module:Class"`` of a :class:`~fedsim.interfaces.ClientLearner`
(imported on first use, so a weights-only run never imports the adapter stack). A new
learner is one module here plus one line in :data:`LEARNERS` - or, from a user's own package,
an entry point in the group ``fedsim.learners`` (:mod:`fedsim.registry`), found on the driver,
on Ray actors and on SuperNodes wherever that package is installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from fedsim.errors import ConfigError
from fedsim.interfaces import ClientLearner
from fedsim.registry import load_registered, registered

LEARNERS: Mapping[str, str] = MappingProxyType(
    {
        "weights": "fedsim.client.learners.weights:WeightsLearner",
        "prototypes": "fedsim.client.learners.prototypes:PrototypeLearner",
        "adapters": "fedsim.client.learners.adapters:AdapterLearner",
        "pilora": "fedsim.client.learners.pilora:PILoRALearner",
    }
)


def learner_names() -> list[str]:
    """Every learner name a config may give: the built-in ones, then installed entry points."""
    return sorted(LEARNERS) + sorted(set(registered("learner")) - set(LEARNERS))


def get_learner(name: str) -> ClientLearner:
    """Return an instance of the learner registered under ``name``.

    Built-in names come first; any other name is an entry point of the group
    ``fedsim.learners``. The object must implement :class:`~fedsim.interfaces.ClientLearner`.
    """
    key = "strategy.client_learner"
    if name in LEARNERS:
        module, cls = LEARNERS[name].split(":")
        return vars(importlib.import_module(module))[cls]()
    if name not in registered("learner"):
        raise ConfigError(key, f"unknown learner '{name}', allowed: {', '.join(learner_names())}")
    learner = load_registered("learner", name, key)()
    if not isinstance(learner, ClientLearner):
        raise ConfigError(
            key, f"'{name}' does not implement fedsim.interfaces.ClientLearner (train, evaluate)"
        )
    return learner


__all__ = ["LEARNERS", "ClientLearner", "get_learner", "learner_names"]
