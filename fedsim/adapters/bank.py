"""Keys and maths of adapter payloads: groups (``shared``, ``task<t>``) and their weighted means.

A payload is an ArrayRecord whose keys are ``"<group>/<stripped key>"``. Group ``shared`` is
averaged over every client that trained; group ``task<t>`` is the bank entry of global task
``t``, averaged only over the clients that trained task ``t`` this round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from flwr.app import Array, ArrayRecord

SHARED = "shared"
_TASK = "task"

Groups = dict[str, dict[str, np.ndarray]]


def task_group(task_id: int) -> str:
    """Return the group name of task ``task_id``'s bank entry."""
    return f"{_TASK}{int(task_id)}"


def task_of(group: str) -> int | None:
    """Return the task id of a bank group, or None for other groups."""
    if group.startswith(_TASK) and group[len(_TASK) :].isdigit():
        return int(group[len(_TASK) :])
    return None


def split_groups(record: ArrayRecord) -> Groups:
    """Return ``group -> {stripped key -> ndarray}`` of a payload."""
    out: Groups = {}
    for key in record.keys():
        group, sep, rest = key.partition("/")
        if not sep or not rest:
            raise ValueError(f"adapter key '{key}' has no '<group>/' prefix")
        out.setdefault(group, {})[rest] = record[key].numpy()
    return out


def join_groups(groups: Mapping[str, Mapping[str, np.ndarray]]) -> ArrayRecord:
    """Return the payload of ``groups`` (keys sorted, so payloads are deterministic)."""
    items = {
        f"{g}/{k}": Array(np.ascontiguousarray(groups[g][k]))
        for g in sorted(groups)
        for k in sorted(groups[g])
    }
    return ArrayRecord(items)


def select_groups(groups: Groups, names: Iterable[str]) -> Groups:
    """Return the listed groups (each must exist)."""
    return {n: groups[n] for n in names}


def bank_entry(groups: Mapping[str, Mapping[str, np.ndarray]], task_id: int) -> Mapping:
    """Return the bank entry of ``task_id``; an unknown task id is a clear ``KeyError``."""
    name = task_group(task_id)
    if name not in groups:
        known = sorted(t for t in (task_of(g) for g in groups) if t is not None)
        raise KeyError(
            f"the adapter bank has no entry for task id {task_id} "
            f"(known task ids: {', '.join(map(str, known)) or 'none'})"
        )
    return groups[name]


def weighted_group_means(
    payloads: Sequence[tuple[Groups, float]],
) -> tuple[Groups, dict[str, int]]:
    """Average each group over the payloads that carry it, weighted by their weights.

    Returns the means and, per group, how many payloads contributed (the group's usage).
    """
    sums: dict[str, dict[str, np.ndarray]] = {}
    weights: dict[str, float] = {}
    usage: dict[str, int] = {}
    dtypes: dict[str, dict[str, np.dtype]] = {}
    for groups, w in payloads:
        for g, tensors in groups.items():
            acc = sums.setdefault(g, {})
            dtypes.setdefault(g, {})
            for k, v in tensors.items():
                acc[k] = acc.get(k, 0.0) + float(w) * np.asarray(v, dtype=np.float64)
                dtypes[g].setdefault(k, np.asarray(v).dtype)
            weights[g] = weights.get(g, 0.0) + float(w)
            usage[g] = usage.get(g, 0) + 1
    means = {
        g: {k: (v / weights[g]).astype(dtypes[g][k]) for k, v in acc.items()}
        for g, acc in sums.items()
    }
    return means, usage
