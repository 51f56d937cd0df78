"""Client learners: what a client trains and sends for a given family of strategies."""

from __future__ import annotations

from fedsim.client.state import ClientLearner

_REGISTRY: dict[str, str] = {
    "weights": "fedsim.client.learners.weights:WeightsLearner",
    "prototypes": "fedsim.client.learners.prototypes:PrototypeLearner",
    "adapters": "fedsim.client.learners.adapters:AdapterLearner",
}


def register_learner(name: str, path: str) -> None:
    """Register a client learner class under ``name`` (``"module:Class"``)."""
    _REGISTRY[name] = path


def get_learner(name: str) -> ClientLearner:
    """Return an instance of the learner registered under ``name``."""
    import importlib

    if name not in _REGISTRY:
        raise ValueError(
            f"strategy.client_learner: unknown learner '{name}', "
            f"allowed: {', '.join(sorted(_REGISTRY))}"
        )
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["ClientLearner", "get_learner", "register_learner"]
