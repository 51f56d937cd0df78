"""Primitive checks of single config values: type, finiteness, range, enumeration, known keys.

Each check raises :class:`~fedsim.errors.ConfigError` naming the dotted key, the value and
what is allowed. NaN and infinities are refused everywhere (``nan <= 0`` is false, so a plain
range test would let them through).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from fedsim.errors import ConfigError


def get(cfg: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key`` (``None`` if any part is absent)."""
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def number(
    cfg: Mapping[str, Any],
    key: str,
    *,
    integer: bool = False,
    low: float | None = None,
    strict: bool = False,
    high: float | None = None,
    optional: bool = False,
) -> None:
    """Check that ``key`` holds a finite number (an integer with ``integer``) in range.

    ``low``/``high`` bound the value (``strict``: ``> low`` instead of ``>= low``);
    ``optional`` allows ``null``.
    """
    value = get(cfg, key)
    if value is None:
        if optional:
            return
        raise ConfigError(key, "must be set (got null)")
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, f"must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(key, f"must be a finite number, got {value}")
    if integer and value != int(value):
        raise ConfigError(key, f"must be an integer, got {value}")
    too_low = low is not None and (value <= low if strict else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        raise ConfigError(key, f"must be {_range(low, strict, high)}, got {value}")


def _range(low: float | None, strict: bool, high: float | None) -> str:
    if high is None:
        return f"{'>' if strict else '>='} {low:g}"
    if low is None:
        return f"<= {high:g}"
    return f"in {'(' if strict else '['}{low:g}, {high:g}]"


def boolean(cfg: Mapping[str, Any], key: str) -> None:
    """Check that ``key`` holds true or false."""
    value = get(cfg, key)
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {value!r}")


def one_of(value: Any, key: str, allowed: tuple[str, ...]) -> None:
    """Check that ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(key, f"unknown value '{value}', allowed: {', '.join(allowed)}")


def known_keys(cfg: Mapping[str, Any], group: str, schema: type) -> None:
    """Refuse keys of ``cfg[group]`` that the dataclass ``schema`` does not declare."""
    node = cfg.get(group)
    if not isinstance(node, Mapping):
        return
    fields = [f.name for f in dataclasses.fields(schema)]
    for name in node:
        if name not in fields:
            raise ConfigError(
                f"{group}.{name}", f"unknown key (allowed in '{group}': {', '.join(fields)})"
            )
