"""The resolved plain config: what the driver hands to workers (DESIGN.md rule 8).

Hydra composes and resolves the experiment config on the driver; from there on it is made of
plain values only - mappings with string keys, lists, ``str``, ``int``, ``float``, ``bool`` and
``None`` - so Ray actors and SuperNodes can use it without Hydra or OmegaConf, and it survives a
trip through JSON unchanged. This module imports neither.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fedsim.errors import ConfigError

SCALARS = (str, int, float, bool, type(None))
TARGET = "_target_"


def plain_copy(value: Any, key: str, *, spec: bool = False) -> Any:
    """Return a deep copy of ``value`` made of plain config values only.

    Parameters
    ----------
    value : Any
        A config value (mapping, list/tuple or scalar); tuples become lists.
    key : str
        Dotted config key of ``value``, named in every error.
    spec : bool
        ``value`` is a parameter of a ``_target_`` spec: a nested mapping with its own
        ``_target_`` (a nested object) is refused too.

    Raises
    ------
    ConfigError
        Naming the key of a non-string mapping key, an unresolved ``${...}`` interpolation,
        a nested ``_target_`` (``spec=True``) or a value of any other type.
    """
    if isinstance(value, Mapping):
        if spec and TARGET in value:
            raise ConfigError(
                f"{key}.{TARGET}",
                "nested objects are not supported: give the parameter plain values "
                "(only the group's own spec has a '_target_')",
            )
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(key, f"key {k!r} is not a string")
            out[k] = plain_copy(v, f"{key}.{k}", spec=spec)
        return out
    if isinstance(value, list | tuple):
        return [plain_copy(v, f"{key}[{i}]", spec=spec) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        raise ConfigError(
            key,
            f"unresolved interpolation '{value}': the driver resolves the config "
            "before it reaches a worker",
        )
    if isinstance(value, SCALARS):
        return value
    raise ConfigError(
        key,
        f"a {type(value).__name__} is not a plain config value "
        "(mapping, list, str, int, float, bool or None)",
    )


def plain_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Return a plain deep copy of a resolved experiment config (see :func:`plain_copy`)."""
    if not isinstance(cfg, Mapping):
        raise ConfigError("config", f"expected a mapping, got a {type(cfg).__name__}")
    out = {}
    for key, value in cfg.items():
        if not isinstance(key, str):
            raise ConfigError("config", f"key {key!r} is not a string")
        out[key] = plain_copy(value, key)
    return out


def config_to_json(cfg: Mapping[str, Any]) -> str:
    """The resolved config as JSON text (checked plain first, keys sorted)."""
    return json.dumps(plain_config(cfg), sort_keys=True)


def config_from_json(text: str, source: str) -> dict[str, Any]:
    """Parse a config written by :func:`config_to_json`; ``source`` names it in errors."""
    try:
        cfg = json.loads(text)
    except ValueError as exc:
        raise ConfigError(source, f"is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(source, f"expected a JSON object, got {type(cfg).__name__}")
    return cfg
