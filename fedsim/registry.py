"""Components from a user's own package: Python entry points, one group per extension point.

A package registers its components in its ``pyproject.toml``::

    [project.entry-points."fedsim.strategies"]
    clipped = "mypkg.strategy:ClippedFedAvg"

    [project.entry-points."fedsim.learners"]
    mine = "mypkg.learner:MyLearner"

and a config names them by the entry point's name where it would give a dotted path
(``strategy._target_=clipped``; ``strategy.client_learner=mine``; ``train.plugins=[mine]``).
Discovery uses :func:`importlib.metadata.entry_points`, so it works wherever the package is
installed - on the driver, on Ray actors and on SuperNodes alike - and imports nothing but the
one component asked for. A dotted ``module.Name`` needs no registration at all.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from fedsim.errors import ConfigError

#: extension point (config group, or "learner"/"plugin") -> entry point group
ENTRY_POINT_GROUPS: dict[str, str] = {
    "data": "fedsim.data_sources",
    "scenario": "fedsim.scenarios",
    "strategy": "fedsim.strategies",
    "learner": "fedsim.learners",
    "plugin": "fedsim.plugins",
    "model": "fedsim.models",
    "lr": "fedsim.lr_controllers",
    "selection": "fedsim.selections",
    "curriculum": "fedsim.curricula",
    "faults": "fedsim.faults",
}


def registered(kind: str) -> dict[str, metadata.EntryPoint]:
    """The entry points registered for extension point ``kind`` (name -> entry point)."""
    group = ENTRY_POINT_GROUPS.get(kind)
    if group is None:
        return {}
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def load_registered(kind: str, name: str, key: str) -> Any:
    """Load the component registered as ``name`` for ``kind``; a one-line error naming ``key``.

    Raises
    ------
    ConfigError
        No entry point of that name (the message lists the registered ones), or it cannot be
        imported.
    """
    found = registered(kind)
    if name not in found:
        group = ENTRY_POINT_GROUPS.get(kind, f"fedsim.{kind}")
        names = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(
            key,
            f"'{name}' is neither a dotted name like 'package.module.Name' nor a registered "
            f"{kind} (entry point group '{group}': {names})",
        )
    try:
        return found[name].load()
    except Exception as exc:  # noqa: BLE001 - a broken user package: one line naming it
        lines = f"{type(exc).__name__}: {exc}".strip().splitlines()
        raise ConfigError(
            key, f"cannot load entry point '{name}' = '{found[name].value}': {lines[-1]}"
        ) from None
