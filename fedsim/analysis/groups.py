"""Grouping runs that differ only by seed, labelling groups by what differs, mean +- std.

Runs whose resolved configs are equal once ``seed`` and the keys that do not change results
(``output.*``, ``log.*``, ``backend.*``, ``hydra.*``) are removed form one group; its numbers
are the mean and the sample standard deviation (``ddof=1``) over its runs (seeds). A group is
labelled by the config keys whose values differ between groups, e.g.
``strategy=fedprox, strategy.proximal_mu=0.1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedsim.analysis.runs import Run

IGNORED_PREFIXES = ("output.", "log.", "backend.", "hydra.")
IGNORED_KEYS = ("seed",)


@dataclass
class Group:
    """Runs with the same config except the seed."""

    label: str
    runs: list[Run]

    @property
    def seeds(self) -> list[Any]:
        """The seeds of the group's runs."""
        return [r.seed for r in self.runs]


def _relevant(flat: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in flat.items()
        if k not in IGNORED_KEYS and not k.startswith(IGNORED_PREFIXES)
    }


def _key(flat: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in flat.items()))


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Keys whose value (or presence) is not the same in every config, ``_target_`` dropped."""
    keys = sorted({k for c in configs for k in c})
    out = []
    for k in keys:
        if k.endswith("._target_"):
            continue
        values = {repr(c.get(k, "<absent>")) for c in configs}
        if len(values) > 1:
            out.append(k)
    return out


def _determined_by_name(key: str, configs: list[dict[str, Any]]) -> bool:
    """True when ``key``'s value follows from its group's ``<group>.name`` across configs."""
    name_key = key.split(".", 1)[0] + ".name"
    if key == name_key or "." not in key:
        return False
    seen: dict[str, str] = {}
    for c in configs:
        name, value = repr(c.get(name_key)), repr(c.get(key, "<absent>"))
        if seen.setdefault(name, value) != value:
            return False
    return name_key in {k for c in configs for k in c}


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def label_of(config: dict[str, Any], keys: list[str]) -> str:
    """``strategy=fedprox, strategy.proximal_mu=0.1`` from the differing ``keys``."""
    parts = []
    for k in keys:
        if k not in config:
            continue
        name = k[: -len(".name")] if k.endswith(".name") else k
        parts.append(f"{name}={_fmt(config[k])}")
    return ", ".join(parts)


def group_runs(runs: list[Run]) -> list[Group]:
    """Group ``runs`` by config minus seed; groups keep the order of their first run."""
    buckets: dict[tuple, list[Run]] = {}
    for run in runs:
        buckets.setdefault(_key(_relevant(run.flat_config)), []).append(run)
    configs = [_relevant(members[0].flat_config) for members in buckets.values()]
    keys = differing_keys(configs)
    keys = [k for k in keys if not _determined_by_name(k, configs)]
    groups = []
    for members, config in zip(buckets.values(), configs, strict=True):
        label = label_of(config, keys) or f"strategy={config.get('strategy.name', '?')}"
        groups.append(Group(label=label, runs=sorted(members, key=lambda r: str(r.seed))))
    return groups


def mean_std_cell(stats: Mapping[str, float], scale: float = 1.0, digits: int = 4) -> str:
    """``mean ± std`` of ``{"mean", "std", "n"}`` (just the mean for one value; n/a for none)."""
    if not stats["n"] or not math.isfinite(stats["mean"]):
        return "n/a"
    mean = f"{stats['mean'] * scale:.{digits}f}"
    if stats["n"] > 1:
        return f"{mean} ± {stats['std'] * scale:.{digits}f}"
    return mean


def mean_std(values: list[float | None]) -> tuple[float, float, int]:
    """Mean, sample std (``ddof=1``; 0 for one value) and count of the finite ``values``."""
    arr = np.array(
        [v for v in values if v is not None and math.isfinite(float(v))], dtype=float
    )
    if arr.size == 0:
        return float("nan"), float("nan"), 0
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std, int(arr.size)
