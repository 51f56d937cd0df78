"""The one place that turns ``_target_`` specs into objects (DESIGN.md rule 8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedsim.errors import ConfigError, FedsimError


def build(spec: Mapping[str, Any], group: str, /, **kwargs: Any) -> Any:
    """Instantiate ``spec`` (a mapping with ``_target_``) with extra keyword arguments.

    The informational key ``name`` is dropped. Errors raised by the target (e.g. a
    scenario's ``ValueError``) become a :class:`~fedsim.errors.ConfigError` naming ``group``.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    if not isinstance(spec, Mapping) or "_target_" not in spec:
        raise ConfigError(group, "needs a '_target_' entry (pick one of the configs/ group files)")
    params = {k: v for k, v in spec.items() if k != "name"}
    try:
        return instantiate(params, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, FedsimError):
            raise cause from None
        if isinstance(cause, ValueError | TypeError):
            raise ConfigError(group, _first_line(cause)) from None
        raise ConfigError(group, _first_line(exc)) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
