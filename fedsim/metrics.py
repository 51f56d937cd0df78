"""Continual-learning metrics as pure functions of an accuracy matrix (DESIGN.md rule 10).

``A[i, j]`` is the accuracy on task ``j`` after learning task ``i`` (0-based, ``T x T``),
in the order the learner met the tasks. Entries that were not measured are NaN and are
ignored (a metric with nothing to average is NaN). Definitions follow
Lopez-Paz & Ranzato (2017, GEM) for ACC/BWT/FWT and Chaudhry et al. (2018, RWalk) for
forgetting; see ``shared/notes/methods.md``.
"""

from __future__ import annotations

import warnings

import numpy as np


def _nanmean(values) -> float:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0 or np.all(np.isnan(arr)):
        return float("nan")
    return float(np.nanmean(arr))


def _square(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"accuracy matrix must be square and non-empty, got shape {a.shape}")
    return a


def average_accuracy(a: np.ndarray) -> float:
    """ACC = mean_j A[T-1, j]: accuracy over all tasks after the last one."""
    a = _square(a)
    return _nanmean(a[-1])


def backward_transfer(a: np.ndarray) -> float:
    """BWT = mean_{j<T-1} (A[T-1, j] - A[j, j]); negative means forgetting. NaN for T=1."""
    a = _square(a)
    t = a.shape[0]
    return _nanmean([a[-1, j] - a[j, j] for j in range(t - 1)])


def forward_transfer(a: np.ndarray, initial: np.ndarray) -> float:
    """FWT = mean_{j>=1} (A[j-1, j] - b_j), ``b_j`` = accuracy of the initial model on task j."""
    a = _square(a)
    b = np.asarray(initial, dtype=float)
    if b.shape != (a.shape[0],):
        raise ValueError(f"initial accuracies must have shape ({a.shape[0]},), got {b.shape}")
    return _nanmean([a[j - 1, j] - b[j] for j in range(1, a.shape[0])])


def forgetting(a: np.ndarray) -> float:
    """F = mean_{j<T-1} max_{l<T-1} (A[l, j] - A[T-1, j]) (Chaudhry et al., 2018). NaN for T=1."""
    a = _square(a)
    t = a.shape[0]
    if t < 2:
        return float("nan")
    per_task = []
    for j in range(t - 1):
        past = a[: t - 1, j]
        if np.all(np.isnan(past)) or np.isnan(a[-1, j]):
            continue
        per_task.append(np.nanmax(past) - a[-1, j])
    return _nanmean(per_task)


def average_incremental_accuracy(a: np.ndarray) -> float:
    """AIA = mean_i mean_{j<=i} A[i, j] (Rebuffi et al., 2017)."""
    a = _square(a)
    return _nanmean([_nanmean(a[i, : i + 1]) for i in range(a.shape[0])])


def cl_metrics(a: np.ndarray, initial: np.ndarray | None = None) -> dict[str, float]:
    """All metrics of one matrix: acc, bwt, fwt (with ``initial``), forgetting, aia."""
    out = {
        "acc": average_accuracy(a),
        "bwt": backward_transfer(a),
        "forgetting": forgetting(a),
        "aia": average_incremental_accuracy(a),
    }
    if initial is not None:
        out["fwt"] = forward_transfer(a, initial)
    return out


def mean_metrics(per_client: list[dict[str, float]]) -> dict[str, float]:
    """Average metric dicts over clients, ignoring NaN entries."""
    keys = sorted({k for m in per_client for k in m})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: _nanmean([m.get(k, np.nan) for m in per_client]) for k in keys}


def nanmean_matrices(mats: list[np.ndarray]) -> np.ndarray:
    """Element-wise mean of equally shaped matrices, ignoring NaN (NaN where no value)."""
    stack = np.stack([np.asarray(m, dtype=float) for m in mats])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stack, axis=0)
