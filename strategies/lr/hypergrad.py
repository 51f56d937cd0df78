"""The arithmetic of FedHyper's hypergradient rules, as pure functions.

Wang, Wang, Li, "FedHyper: A Universal and Robust Learning Rate Scheduler for Federated
Learning with Hypergradient Descent" (ICLR 2024). Hypergradient descent (Baydin et al., ICLR
2018): the hypergradient of a learning rate is minus the dot product of the current and the
previous update, so the rate grows while successive updates agree and shrinks when they
disagree. The rules below follow the official code (ATP-1010/FedHyper, ``federated_main.py``
for the server rules, ``update.py`` ``LocalUpdate.update_weights`` for the client rule), with
its constants as the defaults of the callers; see ``docs/fedhyper.md``.

Updates are dicts ``name -> float64 numpy array``. Only the model's parameters take part, as
the official code restricts the vector to ``model.parameters()``: integer arrays and the
floating buffers the caller names (e.g. BatchNorm's running statistics) are passed through
untouched.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
from flwr.app import Array, ArrayRecord

Update = dict[str, np.ndarray]


def float_arrays(record: ArrayRecord) -> dict[str, np.ndarray]:
    """Return the floating-point arrays of ``record`` as float64 numpy arrays, by key."""
    out: dict[str, np.ndarray] = {}
    for key, arr in record.items():
        nd = arr.numpy()
        if np.issubdtype(nd.dtype, np.floating):
            out[key] = nd.astype(np.float64)
    return out


def update_of(
    previous: ArrayRecord, aggregated: ArrayRecord, exclude: Collection[str] = ()
) -> Update:
    """Return the raw aggregated update ``Delta_t = aggregated - previous``, key by key.

    Only keys present in both records, floating in both and of equal shape are used; any other
    array (a new adapter, a prototype table the strategy keeps apart) is not part of the update,
    and neither are the keys in ``exclude`` (the model's buffers, which are not parameters).
    """
    prev = float_arrays(previous)
    out: Update = {}
    for key, new in float_arrays(aggregated).items():
        if key in exclude:
            continue
        old = prev.get(key)
        if old is not None and old.shape == new.shape:
            out[key] = new - old
    return out


def dot(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    """Dot product of two updates over their common keys (the flattened-vector product).

    The per-key products are summed in ``a``'s key order: a set's order depends on the
    process's string-hash seed, so summing over ``a.keys() & b.keys()`` differed in the last
    bits between two processes (e.g. a run and its resumed continuation).
    """
    total = 0.0
    for key in a:
        if key in b and a[key].shape == b[key].shape:
            total += float(np.dot(a[key].ravel(), b[key].ravel()))
    return total


def clip(value: float, low: float, high: float) -> float:
    """Clip a scalar to ``[low, high]``."""
    return float(min(max(value, low), high))


def global_accumulator(
    a_prev: float, direction: Mapping[str, np.ndarray], delta: Mapping[str, np.ndarray], *,
    hyper_lr: float, low: float, high: float,
) -> float:
    """FedHyper-G / -GM: ``a_t = clip(a_{t-1} + hyper_lr * <direction, Delta_t>, low, high)``.

    ``direction`` is ``Delta_{t-1}`` for G (paper Eq. of the global hypergradient, code
    ``agg += (last_vector * gradient_vector).sum()``) or the momentum ``m_{t-1}`` for GM. The
    global learning rate is ``eta_g = 1 + a_t``; the code's hyper-LR is 1 and its bounds on
    ``a_t`` are ``[-0.8, 4]`` (G) and ``[-0.2, 4]`` (GM).
    """
    return clip(a_prev + hyper_lr * dot(direction, delta), low, high)


def apply_global(
    previous: ArrayRecord,
    aggregated: ArrayRecord,
    delta: Mapping[str, np.ndarray],
    server_lr: float,
    momentum_term: Mapping[str, np.ndarray] | None = None,
) -> ArrayRecord:
    """Return ``theta_{t+1} = theta_t + server_lr * Delta_t (+ momentum_term)``, key by key.

    Keys without an update (non-float, new or reshaped arrays) keep the aggregated value, so
    the step composes with any strategy's aggregate. The result keeps each array's dtype.
    """
    out = {}
    for key, arr in aggregated.items():
        if key not in delta:
            out[key] = arr
            continue
        base = previous[key].numpy()
        step = server_lr * delta[key]
        if momentum_term is not None and key in momentum_term:
            step = step + momentum_term[key]
        out[key] = Array(np.asarray(base.astype(np.float64) + step, dtype=base.dtype))
    return ArrayRecord(out)


def momentum_update(m_prev: Mapping[str, np.ndarray], delta: Mapping[str, np.ndarray],
                    mu: float) -> Update:
    """GM's momentum buffer ``m_t = Delta_t + mu * m_{t-1}`` (code: ``0.9 * last_vector``).

    Keys new in ``delta`` start from zero momentum; keys no longer updated are dropped.
    """
    return {k: d + mu * m_prev[k] if k in m_prev and m_prev[k].shape == d.shape else d.copy()
            for k, d in delta.items()}


def server_local_lr(lr0: float, accumulator: float, low: float, high: float) -> float:
    """FedHyper-SL: ``eta_l = clip(eta_l0 * (1 + a_t), low * eta_l0, high * eta_l0)``.

    ``a_t`` is the *unclipped* accumulator ``a_{t-1} + <Delta_{t-1}, Delta_t>`` (code line
    ``local_lr = [args.lr * (1 + agg)]`` clipped to ``[0.001, 0.1]`` = ``[lr0/10, 10 lr0]``
    for the default ``lr0 = 0.01``; here the bounds are relative factors of ``lr0``).
    """
    return clip(lr0 * (1.0 + accumulator), low * lr0, high * lr0)


def client_beta(
    beta_prev: float, x: float, y: float, *, max_growth: float, low: float, high: float
) -> float:
    """FedHyper-CL's per-step factor: ``beta_i = clip(min(max_growth, 1 + x + y) * beta_{i-1})``.

    ``x = x_scale * <u_i, Delta_{t-1}>`` and ``y = y_scale * <u_i, u_{i-1}>`` (code: ``x = 0.1 *
    <u, gtl> / m``, ``y = <u, u_prev>``, ``gamma = min(1.1, 1 + x + y)``, ``beta`` clipped to
    ``[0.1, 10]``). There is no lower bound on ``gamma`` (as in the code): a negative gamma
    sends ``beta`` to ``low`` in one step.
    """
    gamma = min(max_growth, 1.0 + x + y)
    return clip(gamma * beta_prev, low, high)


def check_bounds(name: str, bounds, *, must_contain_one: bool = True) -> tuple[float, float]:
    """Validate a ``[low, high]`` pair of positive LR factors; raise ``ValueError`` naming it."""
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair [low, high], got {bounds!r}") from None
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 or high <= 0:
        raise ValueError(f"{name} must be positive, got [{low}, {high}]")
    if low >= high:
        raise ValueError(f"{name} needs low < high, got [{low}, {high}]")
    if must_contain_one and not low <= 1.0 <= high:
        raise ValueError(f"{name} must contain the initial factor 1, got [{low}, {high}]")
    return low, high


def check_rate(name: str, value, *, allow_zero: bool = False) -> float:
    """Validate a non-negative (or positive) finite rate; raise ``ValueError`` naming it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return v
