"""``group._target_=my.Class`` on the command line: the group's old keys do not leak into it.

Overriding only ``_target_`` keeps the rest of the group's default file: with the default
``data=digits``, ``data._target_=mypkg.Source`` would still pass ``test_fraction`` and
``split_seed`` to ``mypkg.Source``. After composition, :func:`drop_inherited_keys` removes the
keys the new target does not declare - unless the command line set them itself, in which case
the resolver refuses them with one line naming the key (a typo is never ignored).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fedsim.config.plain import TARGET
from fedsim.resolver import INFO_KEYS, accepted_keys, locate

#: keys of a group read by the engine itself, never passed to the target
ENGINE_KEYS = {"strategy": ("client_learner", "plugins")}


def _key_of(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def replaced_targets(overrides: Sequence[str]) -> list[str]:
    """Groups whose ``_target_`` the overrides set (``data._target_=x.Y`` -> ``data``)."""
    groups = []
    for ov in overrides:
        key = _key_of(ov)
        group, _, leaf = key.partition(".")
        if leaf == TARGET and not ov.startswith("~") and group not in groups:
            groups.append(group)
    return groups


def drop_inherited_keys(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Remove keys of a re-targeted group that its new target does not declare (in place).

    Keys the overrides set explicitly stay (and are refused by the resolver if undeclared);
    a target that takes ``**kwargs`` keeps everything. Returns ``cfg``.
    """
    for group in replaced_targets(overrides):
        spec = cfg.get(group)
        if not isinstance(spec, Mapping) or TARGET not in spec:
            continue
        declared = accepted_keys(locate(spec[TARGET], f"{group}.{TARGET}", kind=group))
        if declared is None:
            continue
        explicit = {
            _key_of(ov).split(".")[1] for ov in overrides if _key_of(ov).startswith(group + ".")
        }
        keep = {TARGET, *INFO_KEYS, *ENGINE_KEYS.get(group, ()), *declared, *explicit}
        cfg[group] = {k: v for k, v in spec.items() if k in keep}
    return cfg
