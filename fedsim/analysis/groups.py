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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedsim.analysis.runs import Run

IGNORED_PREFIXES = ("output.", "log.", "backend.", "hydra.")
IGNORED_KEYS = ("seed",)
#: when a label is longer than this, every group's legend entry is its id (``G3``)
LEGEND_CHARS = 60


@dataclass
class Group:
    """Runs with the same config except the seed.

    ``runs`` holds one run per seed; ``duplicates`` the other runs of the group whose seed is
    already in ``runs`` (same config, same seed: a re-run, not another sample), which are
    reported but never averaged in. ``ident`` (``G1``, ``G2``, ...) is the short name the
    figures' legends use when labels are long.
    """

    label: str
    runs: list[Run]
    ident: str = ""
    duplicates: list[Run] = field(default_factory=list)
    short_legend: bool = False

    @property
    def seeds(self) -> list[Any]:
        """The seeds of the group's runs."""
        return [r.seed for r in self.runs]

    @property
    def legend(self) -> str:
        """The legend entry: the label, or the group's id when some group's label is long."""
        return self.ident if self.short_legend else self.label


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


def _classes(configs: list[dict[str, Any]], keys: list[str]) -> int:
    return len({tuple(repr(c.get(k, "<absent>")) for k in keys) for c in configs})


def distinguishing_keys(configs: list[dict[str, Any]], keys: list[str]) -> list[str]:
    """A few of ``keys`` that still tell every config apart (``.name`` keys first).

    The differing ``<group>.name`` keys are always kept (they read best); then, greedily, the
    key that separates the most configs still alike (fewest dots, then shortest, on
    ties) until all are apart. ``keys`` itself when they cannot tell all configs apart.
    """
    target = _classes(configs, keys)
    chosen = [k for k in keys if k.endswith(".name")]
    rest = [k for k in keys if k not in chosen]
    while _classes(configs, chosen) < target and rest:
        best = max(rest, key=lambda k: (_classes(configs, [*chosen, k]), -k.count("."), -len(k)))
        chosen.append(best)
        rest.remove(best)
    return [k for k in keys if k in chosen and k.endswith(".name")] + [
        k for k in keys if k in chosen and not k.endswith(".name")
    ]


def _split_duplicates(members: list[Run]) -> tuple[list[Run], list[Run]]:
    """One run per seed (the newest ``summary.json`` wins), and the others."""
    newest: dict[str, Run] = {}
    for run in members:
        key = repr(run.seed)
        if key not in newest or _mtime(run) > _mtime(newest[key]):
            newest[key] = run
    keep = sorted(newest.values(), key=lambda r: str(r.seed))
    kept = {id(r) for r in keep}
    return keep, [r for r in members if id(r) not in kept]


def _mtime(run: Run) -> tuple[float, str]:
    try:
        return (run.path.joinpath("summary.json").stat().st_mtime, str(run.path))
    except OSError:
        return (0.0, str(run.path))


def group_runs(runs: list[Run]) -> list[Group]:
    """Group ``runs`` by config minus seed; groups keep the order of their first run.

    A group is labelled by the few keys that tell the groups apart
    (:func:`distinguishing_keys`), not by every key that differs. Runs of one group with the
    same seed are duplicates: the newest is kept, the others are listed in
    ``Group.duplicates`` and not averaged as if they were further seeds.
    """
    buckets: dict[tuple, list[Run]] = {}
    for run in runs:
        buckets.setdefault(_key(_relevant(run.flat_config)), []).append(run)
    configs = [_relevant(members[0].flat_config) for members in buckets.values()]
    keys = differing_keys(configs)
    keys = [k for k in keys if not _determined_by_name(k, configs)]
    keys = distinguishing_keys(configs, keys)
    groups = []
    for i, (members, config) in enumerate(zip(buckets.values(), configs, strict=True)):
        label = label_of(config, keys) or f"strategy={config.get('strategy.name', '?')}"
        keep, dups = _split_duplicates(members)
        groups.append(Group(label=label, runs=keep, ident=f"G{i + 1}", duplicates=dups))
    if any(len(g.label) > LEGEND_CHARS for g in groups):
        for g in groups:  # all or none: a legend mixing ids and labels reads badly
            g.short_legend = True
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
