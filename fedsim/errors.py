"""Exceptions meant for people: each names the offending key or file and what is allowed."""

from __future__ import annotations


class FedsimError(Exception):
    """Base class of every error fedsim reports as one line and exit code 2."""


class ConfigError(FedsimError, ValueError):
    """A configuration value is invalid.

    Parameters
    ----------
    key : str
        Dotted config key, e.g. ``"train.lr"``.
    message : str
        What is wrong and what is allowed.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class DataError(FedsimError):
    """A data source cannot be read (missing directory, wrong format)."""


class RoundError(FedsimError):
    """A round could not complete under the configured policy (e.g. too few good replies)."""


class ProtocolError(FedsimError):
    """A client's reply does not follow fedsim's client protocol (``fedsim.wire``, version 1)."""
