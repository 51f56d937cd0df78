"""The command line before Hydra sees it: Hydra's own flags, and Hydra's errors as one line.

Hydra reports a bad override as ``Error merging override seed=1.5`` or lists its config search
path among the allowed options; :func:`hydra_message` turns such exceptions into
``KEY: what is wrong (allowed: ...)``, naming the key first.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re

from fedsim.errors import ConfigError

#: Hydra flags after which fedsim only composes (nothing runs, so values are not validated)
SHOW_ONLY = ("cfg", "info", "help", "hydra_help", "shell_completion")
_CONVERT = re.compile(r"Value '(.*)' of type '\w+' could not be converted to (\w+)")
_BOOL = re.compile(r"Value '(.*)' is not a valid bool")
_APPEND = re.compile(r"An item is already at '([^']+)'")


def parse_hydra_args(args: list[str]) -> argparse.Namespace:
    """Parse ``args`` with Hydra's own argument parser; a bad flag raises :class:`ConfigError`."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()

    def error(message: str) -> None:
        raise ConfigError("command line", message)

    parser.error = error  # type: ignore[method-assign] - argparse would print usage and exit
    known, unknown = parser.parse_known_args(args)
    if unknown:
        raise ConfigError("command line", f"unknown flag '{unknown[0]}' (see fedsim --help)")
    modes = [known.run, known.multirun, known.cfg, known.info, known.shell_completion]
    if sum(bool(m) for m in modes) > 1:
        raise ConfigError(
            "command line",
            "only one of --run, --multirun, --cfg, --info and --shell-completion can be given",
        )
    return known


def check_override_syntax(overrides: list[str]) -> None:
    """Parse each override alone, so a syntax error names the override it is in."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text in overrides:
        try:
            parser.parse_overrides([text])
        except Exception as exc:  # noqa: BLE001 - Hydra's parser raises several types
            key = text.split("=", 1)[0].lstrip("+~") if "=" in text else text
            lines = [ln.strip() for ln in str(exc).strip().splitlines()]
            useful = [
                ln for ln in lines
                if ln and not ln.startswith(("Error parsing", "See https", "^"))
                and "LexerNoViable" not in ln and ln != text
            ]  # fmt: skip
            detail = f" ({useful[0]})" if useful else ""
            raise ConfigError(
                key, f"cannot parse '{text}'{detail}; expected key=value (see fedsim --help)"
            ) from None


def hydra_message(exc: BaseException) -> str:
    """One line for a Hydra/OmegaConf composition error, naming the key first."""
    from hydra.errors import MissingConfigException

    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, MissingConfigException):
        return _missing_option(str(exc))
    m = _APPEND.search(str(exc))
    if m:
        return f"{m.group(1)}: already set; drop the '+' to override it ({m.group(1)}=...)"
    cause = exc
    while cause is not None:
        key = getattr(cause, "full_key", None)
        if key:
            return f"{key}: {_omegaconf_detail(cause, str(key))}"
        cause = cause.__cause__
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _omegaconf_detail(exc: BaseException, key: str) -> str:
    msg = str(getattr(exc, "msg", exc)).strip().splitlines()[0]
    m = _CONVERT.search(msg)
    if m:
        kind = {"Integer": "an integer", "Float": "a number"}.get(m.group(2), m.group(2))
        return f"must be {kind}, got '{m.group(1)}'"
    m = _BOOL.search(msg)
    if m:
        return f"must be true or false, got '{m.group(1)}'"
    if "not in" in msg and ("Key '" in msg):
        parent, _, leaf = key.rpartition(".")
        allowed = _schema_keys(parent)
        if not allowed and parent:  # an object group (strategy, data...): its file's keys
            return (
                f"unknown key; the {parent} config has no '{leaf}' "
                f"(to pass a new keyword to its _target_, add it: +{key}=...)"
            )
        return "unknown key" + suggest(leaf, allowed, parent) + (
            f" (allowed: {', '.join(allowed)})" if allowed else ""
        )
    return msg


def suggest(word: str, allowed: list[str], prefix: str = "", sep: str = ".") -> str:
    """``"; did you mean PREFIX.X?"`` for the closest allowed name (difflib), else ``""``."""
    close = difflib.get_close_matches(word, allowed, n=1, cutoff=0.6)
    if not close:
        return ""
    return f"; did you mean {prefix}{sep if prefix else ''}{close[0]}?"


def _schema_keys(parent: str) -> list[str]:
    from fedsim.config import schema

    node: type = schema.FedsimConfig
    for part in [p for p in parent.split(".") if p]:
        fields = {f.name: f for f in dataclasses.fields(node)}
        sub = fields.get(part)
        default = sub.default_factory() if sub and callable(sub.default_factory) else None
        if not dataclasses.is_dataclass(default):
            return []
        node = type(default)
    return [f.name for f in dataclasses.fields(node)]


def _missing_option(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    m = re.search(r"Could not (?:find|load) '([^']+)'", lines[0] if lines else "")
    options: list[str] = []
    collecting = False
    for ln in lines[1:]:
        if ln.lower().startswith("available options"):
            collecting = True
        elif ln.lower().startswith("config search path"):
            break
        elif collecting:
            options.append(ln)
    if not m:
        return lines[0] if lines else "config not found"
    group, _, name = m.group(1).rpartition("/")
    allowed = f" (allowed: {', '.join(options)})" if options else ""
    if not group:
        return f"{name}: no such config group or option{allowed}"
    hint = suggest(name, options, group, sep="=")
    return f"{group}={name}: unknown option{hint}{allowed}"
