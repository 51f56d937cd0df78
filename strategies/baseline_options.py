"""Checks of the FCL baselines' strategy options: one line naming the key (``strategy.*``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fedsim.errors import ConfigError


def checked_number(
    key: str, value: object, *, low: float = 0.0, strict: bool = False, integer: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite number ``>= low`` (``> low`` if strict).

    Raises
    ------
    ConfigError
        Keyed ``strategy.<key>``, saying what is allowed.
    """
    name = f"strategy.{key}"
    bound = f"> {low:g}" if strict else f">= {low:g}"
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok_type or (integer and not float(value).is_integer()):
        raise ConfigError(name, f"must be {kind} {bound}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < low or (strict and number == low):
        raise ConfigError(name, f"must be {kind} {bound}, got {value!r}")
    return number


def checked_choice(key: str, value: object, allowed: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; else raise naming ``strategy.<key>``."""
    if value not in allowed:
        raise ConfigError(
            f"strategy.{key}", f"unknown value {value!r}, allowed: {', '.join(allowed)}"
        )
    return str(value)
