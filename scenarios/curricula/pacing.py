"""Pacing functions: how much of the difficulty-ordered data a learner may use at step ``t``.

Two families, both pure functions:

* The ``(a, b)`` pacing functions of Wu, Dyer & Neyshabur, "When Do Curricula Work?" (ICLR 2021),
  as used by Vahidian et al., "When Do Curricula Work in Federated Learning?" (ICCV 2023,
  sreevatsank1999/Curriculum-FL ``src/pacing_fn/get_pacing_function.py``). With ``N`` items and
  ``T`` steps, ``b`` is the starting fraction of the data and ``a`` the fraction of ``T`` at which
  all of it is used; the pool size is an ``int`` clipped to ``[1, N]``:

  - linear: ``g(t) = bN + (N - bN) * t / (aT)``
  - quad:   ``g(t) = bN + (N - bN) * (t / (aT))**2``
  - sqrt:   ``g(t) = bN + (N - bN) * (t / (aT))**0.5``
  - step:   ``g(t) = bN + N * floor(t / (aT))``
  - exp:    ``g(t) = bN + (N - bN) * (exp(c t / (aT)) - 1) / (exp(c) - 1)``, ``c = 10``
  - log:    ``g(t) = bN + (N - bN) * (1 + ln(t / (aT) + exp(-c)) / c)``, ``c = 10``

  The arithmetic follows the official code's operation order (``rate * t + bN`` with
  ``rate = (N - bN) / (aT)``), so ``int`` truncation matches it exactly.

* The cyclical schedule of Kesgin & Amasyali, "Cyclical Curriculum Learning" (IEEE TNNLS 2023,
  CyclicalCurriculum/Cyclical-Curriculum ``get_cycle_sizes``): per epoch a data fraction that
  starts at ``start``, is divided by ``multiplier`` each epoch up to ``end``, then multiplied by
  it back down to ``start``, and so on, until the fractions sum to ``total`` epochs of data.
"""

from __future__ import annotations

import math

PACING_FUNCTIONS = ("linear", "quad", "sqrt", "step", "exp", "log")
_C = 10.0


def check_pacing(name: str, a: float, b: float) -> None:
    """Raise ValueError (naming the parameter) unless ``(name, a, b)`` is a valid pacing."""
    if name not in PACING_FUNCTIONS:
        raise ValueError(f"pacing '{name}' unknown; allowed: {', '.join(PACING_FUNCTIONS)}")
    if not (isinstance(a, int | float) and math.isfinite(a) and a > 0):
        raise ValueError(f"pacing_a must be > 0 (fraction of steps to reach all data), got {a}")
    if not (isinstance(b, int | float) and 0 <= b <= 1):
        raise ValueError(f"pacing_b must be in [0, 1] (starting fraction of data), got {b}")


def pacing_size(name: str, a: float, b: float, step: int, total_steps: int, total_data: int) -> int:
    """Return the number of ordered items usable at ``step`` (an int in ``[1, total_data]``).

    Parameters
    ----------
    name : str
        One of :data:`PACING_FUNCTIONS`.
    a, b : float
        Fraction of ``total_steps`` at which all data is used, and the starting fraction.
    step, total_steps, total_data : int
        Current step (0-based), steps of the whole schedule, items to pace.

    Examples
    --------
    >>> pacing_size("linear", 0.8, 0.2, 0, 510, 500)
    100
    >>> pacing_size("linear", 0.8, 0.2, 408, 510, 500)
    500
    """
    check_pacing(name, a, b)
    if total_steps < 1 or total_data < 1:
        raise ValueError(
            f"total_steps and total_data must be >= 1, got {total_steps}, {total_data}"
        )
    n, t = float(total_data), float(step)
    start = b * n
    span = a * total_steps
    if name == "linear":
        value = (n - start) / span * t + start
    elif name == "quad":
        value = (n - start) / span**2 * t**2 + start
    elif name == "sqrt":
        value = (n - start) / span**0.5 * t**0.5 + start
    elif name == "step":
        value = n * (t // span) + start
    elif name == "exp":
        grown = math.exp(t * (_C / span)) if t * (_C / span) < 709 else math.inf
        value = n if math.isinf(grown) else (n - start) / (math.exp(_C) - 1) * (grown - 1) + start
    else:  # log
        value = (n - start) * (1 + (1.0 / _C) * math.log(t / span + math.exp(-_C))) + start
    return int(min(max(int(value), 1), total_data))


def pacing_fraction(name: str, a: float, b: float, progress: float) -> float:
    """Return the pool fraction at ``progress = t / T`` in [0, 1] (unclipped-to-int form)."""
    size = pacing_size(name, a, b, int(round(progress * 1_000_000)), 1_000_000, 1_000_000)
    return size / 1_000_000


def check_cycle(start: float, end: float, multiplier: float) -> None:
    """Raise ValueError unless the cyclical schedule's parameters are valid."""
    if not 0 < start <= 1:
        raise ValueError(f"cycle_start must be in (0, 1], got {start}")
    if not start <= end <= 1:
        raise ValueError(f"cycle_end must be in [cycle_start, 1], got {end}")
    if not 0 < multiplier < 1:
        raise ValueError(f"cycle_multiplier must be in (0, 1), got {multiplier}")


def cycle_sizes(start: float, end: float, multiplier: float, total: float) -> list[float]:
    """Return the per-epoch data fractions of Cyclical Curriculum Learning.

    Follows ``get_cycle_sizes(sp, ep, alfa, T)``: grow by ``1/multiplier`` from ``start`` to
    ``end``, shrink by ``multiplier`` back to ``start``, repeat while the fractions sum to less
    than ``total`` (in epochs of data).

    Examples
    --------
    >>> cycle_sizes(0.25, 1.0, 0.5, 3.0)
    [0.25, 0.5, 1.0, 0.5, 0.25, 0.5]
    """
    check_cycle(start, end, multiplier)
    sizes = [float(start)]
    n = float(start)
    t = 0
    while sum(sizes) < total:
        if n == start or (sizes[t - 1] < sizes[t] and n != end):
            n = min(n * (1 / multiplier), end)
        else:
            n = max(n * multiplier, start)
        sizes.append(n)
        t += 1
    return sizes
