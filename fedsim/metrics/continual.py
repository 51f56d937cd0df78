"""Continual-learning metrics as pure functions of an accuracy matrix (DESIGN.md rule 10).

``A[l, j]`` is the accuracy on task ``j`` after learning task ``l`` (0-based rows and columns,
``T x T``, ``T`` = tasks finished), in the order the learner met the tasks. Entries that were
not measured are NaN and are ignored (a metric with nothing to average is NaN). Each metric is
defined once, here, with its index ranges:

* ACC (Lopez-Paz & Ranzato, 2017, GEM):  ``ACC = mean_{0<=j<=T-1} A[T-1, j]``.
* BWT (GEM):  ``BWT = mean_{0<=j<=T-2} (A[T-1, j] - A[j, j])``; negative means forgetting.
* FWT (GEM):  ``FWT = mean_{1<=j<=T-1} (A[j-1, j] - b_j)``, ``b_j`` = accuracy of the initial
  model on task ``j``.
* Forgetting (Chaudhry et al., 2018, RWalk, Eq. 7-8):
  ``f_j = max_{j<=l<=T-2} A[l, j] - A[T-1, j]`` for ``0<=j<=T-2``, ``F = mean_j f_j``. Only the
  accuracies measured *after* task ``j`` was learned count: the cell ``A[j-1, j]`` (the next
  task, measured for FWT) can be high in a federation because other clients already taught
  the global model task ``j``, and it is not knowledge the learner had and lost.
* AIA (Rebuffi et al., 2017, iCaRL):  ``AIA = mean_{0<=l<=T-1} mean_{0<=j<=l} A[l, j]``.

See ``shared/notes/methods.md`` and ``docs/analysis.md``.
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


def forgetting_per_task(a: np.ndarray) -> np.ndarray:
    """``f_j = max_{j<=l<=T-2} A[l, j] - A[T-1, j]`` for ``j = 0..T-2`` (NaN where unmeasured).

    The maximum runs over the rows *from* ``j`` on (after task ``j`` was learned), never over
    earlier rows. An empty array for ``T = 1``.
    """
    a = _square(a)
    t = a.shape[0]
    out = np.full(max(t - 1, 0), np.nan)
    for j in range(t - 1):
        after = a[j : t - 1, j]
        if np.all(np.isnan(after)) or np.isnan(a[-1, j]):
            continue
        out[j] = np.nanmax(after) - a[-1, j]
    return out


def forgetting(a: np.ndarray) -> float:
    """F = mean_{j<=T-2} f_j (Chaudhry et al., 2018), :func:`forgetting_per_task`; NaN for T=1."""
    return _nanmean(forgetting_per_task(a))


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
