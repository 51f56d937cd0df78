"""The one place that turns ``_target_`` specs into objects (DESIGN.md rule 8).

It runs on the driver and on every worker (Ray actors, SuperNodes), so it imports neither Hydra
nor OmegaConf: a spec is a plain mapping that Hydra composed and resolved on the driver. It
supports exactly what ``configs/`` uses - ``_target_`` (``"package.module.Name"``) plus plain
keyword arguments, merged with the call's own keyword arguments (which win) - and refuses the rest
of Hydra's ``instantiate`` syntax (``_partial_``, ``_args_``, ``_convert_``, ``_recursive_``, any
other ``_name_`` key, a nested ``_target_`` object, an unresolved ``${...}`` interpolation) with a
:class:`~fedsim.errors.ConfigError` naming the group and the key.

Only what the target declares reaches it: a spec key its signature does not take is refused in
one line naming the key (a typo must not be ignored), and the call's run-time arguments
(labels, seeds, Flower's sampling arguments) are passed only where declared - a target with
``**kwargs`` gets everything. A ``_target_`` without dots is the name of a component registered
by an installed package's entry point (:mod:`fedsim.registry`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from fedsim.config.plain import TARGET, plain_copy
from fedsim.errors import ConfigError, FedsimError
from fedsim.registry import ENTRY_POINT_GROUPS, load_registered

INFO_KEYS = ("name",)  # informational keys of a spec, not passed to the target


def build(spec: Mapping[str, Any], group: str, /, **kwargs: Any) -> Any:
    """Call ``spec['_target_']`` with the spec's other keys plus ``kwargs``; return the result.

    Parameters
    ----------
    spec : Mapping
        A ``_target_`` mapping from ``configs/<group>/``; ``name`` is dropped. Its values are
        copied, so the target cannot change the config.
    group : str
        The config group (``"model"``, ``"strategy"``...), named in every error.
    **kwargs
        Run-time arguments (labels, seeds, sizes); they replace spec keys of the same name.

    Raises
    ------
    ConfigError
        The spec has no ``_target_``, uses a feature the resolver refuses, names something that
        cannot be imported or called, or the target raised ``ValueError``/``TypeError`` (or any
        other ``Exception``); a :class:`~fedsim.errors.FedsimError` of the target propagates.
    """
    if not isinstance(spec, Mapping) or TARGET not in spec:
        raise ConfigError(group, "needs a '_target_' entry (pick one of the configs/ group files)")
    target = locate(spec[TARGET], f"{group}.{TARGET}", kind=group)
    params: dict[str, Any] = {}
    for key, value in spec.items():
        if key == TARGET or key in INFO_KEYS:
            continue
        if not isinstance(key, str):
            raise ConfigError(group, f"key {key!r} is not a string")
        if len(key) > 1 and key.startswith("_") and key.endswith("_"):
            raise ConfigError(
                f"{group}.{key}",
                f"Hydra's instantiate option '{key}' is not supported "
                "(a spec is '_target_' plus the target's keyword arguments)",
            )
        params[key] = plain_copy(value, f"{group}.{key}", spec=True)
    declared = accepted_keys(target)
    if declared is not None:
        unknown = [k for k in params if k not in declared]
        _refuse_undeclared(spec[TARGET], unknown, declared, group)
        kwargs = {k: v for k, v in kwargs.items() if k in declared}
    params.update(kwargs)
    return _call(target, params, group)


def accepted_keys(target: Any) -> set[str] | None:
    """Keyword arguments ``target`` declares; ``None`` when it takes ``**kwargs`` (or any).

    Positional-only parameters are not keywords and are left out.
    """
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin without a signature: pass everything
        return None
    keys = set()
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            keys.add(p.name)
    return keys


def _refuse_undeclared(path: str, unknown: list[str], declared: set[str], group: str) -> None:
    if not unknown:
        return
    takes = ", ".join(sorted(declared)) or "no keyword arguments"
    if len(unknown) == 1:
        close = difflib.get_close_matches(unknown[0], sorted(declared), n=1)
        hint = f"did you mean {group}.{close[0]}? " if close else ""
        raise ConfigError(
            f"{group}.{unknown[0]}", f"unknown key for '{path}'; {hint}it takes: {takes}"
        )
    names = ", ".join(f"{group}.{k}" for k in unknown)
    raise ConfigError(group, f"unknown keys {names} for '{path}'; it takes: {takes}")


def locate(path: Any, key: str, *, kind: str | None = None) -> Any:
    """Import the callable a dotted ``path`` names (``"package.module.Name"``).

    Modules are imported front to back; the first name that is not a submodule is looked up as
    an attribute, and so on (``"pkg.mod.Class.factory"`` works too).

    A plain name (no dots) is looked up among the entry points of extension point ``kind``
    (default: the first part of ``key``; :mod:`fedsim.registry`).

    Raises
    ------
    ConfigError
        Naming ``key``: not a dotted name (nor a registered name), a module that cannot be
        imported, a missing attribute, or something that cannot be called (a module, a
        constant).
    """
    kind = kind or key.split(".")[0]
    if isinstance(path, str) and path.isidentifier() and kind in ENTRY_POINT_GROUPS:
        obj = load_registered(kind, path, key)
        if not callable(obj):
            raise ConfigError(key, f"entry point '{path}' is not a class or function")
        return obj
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        raise ConfigError(key, f"{path!r} is not a dotted name like 'package.module.Name'")
    obj: Any = _import(parts[0], path, key)
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, ModuleType):
            obj = _import(".".join(parts[: i + 1]), path, key)
        else:
            raise ConfigError(key, f"cannot find '{path}': '{'.'.join(parts[:i])}' has no '{part}'")
    if isinstance(obj, ModuleType) or not callable(obj):
        what = type(obj).__name__
        raise ConfigError(key, f"'{path}' is not a class or function (it is a {what})")
    return obj


def _import(module: str, path: str, key: str) -> ModuleType:
    """Import ``module`` (a prefix of ``path``); a ConfigError naming ``key`` if it fails."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            parent, _, name = module.rpartition(".")
            where = f"'{parent}' has no '{name}'" if parent else f"no module named '{module}'"
            raise ConfigError(key, f"cannot find '{path}': {where}") from None
        raise ConfigError(key, f"cannot import '{module}' for '{path}': {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a broken module: say which, in one line
        raise ConfigError(key, f"cannot import '{module}' for '{path}': {_line(exc)}") from None


def _call(target: Any, params: dict[str, Any], group: str) -> Any:
    """Call ``target(**params)``; turn its errors into one-line ConfigErrors naming ``group``."""
    try:
        return target(**params)
    except FedsimError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(group, _last_line(str(exc)) or type(exc).__name__) from None
    except Exception as exc:  # noqa: BLE001 - any failure of a component's constructor
        raise ConfigError(group, _line(exc)) from None


def _line(exc: BaseException) -> str:
    """``Type: message`` of an exception, its last line only."""
    return _last_line(f"{type(exc).__name__}: {exc}")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
