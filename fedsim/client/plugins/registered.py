"""Loop plugins from a user's own package: entry points of the group ``fedsim.plugins``.

A strategy config lists them by name (``strategy.plugins: [my_plugin]``, or
``+strategy.plugins=[my_plugin]`` on the command line); the server sends the names in every
train config (:data:`fedsim.wire.PLUGINS`) and :func:`registered_plugins` builds them for each
client's loop, after the built-in ones, in the order listed. An entry point names a
:class:`~fedsim.interfaces.LoopPlugin` class (or a factory); it is called with the keywords it
declares among ``model`` (the model as received, before training), ``config`` (the round's
train config as a dict), ``client_id``, ``server_round`` and ``exp`` (the experiment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from fedsim import wire
from fedsim.errors import ConfigError
from fedsim.experiment import Experiment
from fedsim.interfaces import LoopPlugin
from fedsim.registry import load_registered
from fedsim.resolver import accepted_keys

KEY = "strategy.plugins"


def plugin_names(config: Mapping[str, Any]) -> list[str]:
    """The plugin names a round config carries (none: ``[]``)."""
    return [n for n in str(config.get(wire.PLUGINS, "")).split(",") if n]


def load_plugin_factory(name: str) -> Any:
    """The class or factory registered as ``name``; a ConfigError naming ``strategy.plugins``."""
    factory = load_registered("plugin", name, KEY)
    if not callable(factory):
        raise ConfigError(KEY, f"entry point '{name}' is not a class or function")
    return factory


def registered_plugins(
    config: Mapping[str, Any],
    *,
    model: nn.Module,
    exp: Experiment,
    client_id: int,
    server_round: int,
) -> list[LoopPlugin]:
    """Build the round's registered plugins (each must implement ``LoopPlugin``)."""
    offered = {
        "model": model,
        "config": dict(config),
        "client_id": client_id,
        "server_round": server_round,
        "exp": exp,
    }
    plugins = []
    for name in plugin_names(config):
        factory = load_plugin_factory(name)
        declared = accepted_keys(factory)
        kwargs = {k: v for k, v in offered.items() if declared is None or k in declared}
        plugin = factory(**kwargs)
        if not isinstance(plugin, LoopPlugin):
            raise ConfigError(
                KEY, f"'{name}' did not return a fedsim.interfaces.LoopPlugin (subclass BasePlugin)"
            )
        plugins.append(plugin)
    return plugins
