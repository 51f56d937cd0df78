"""Pacing functions against hand-computed pool sizes (official (a, b) parametrisation)."""

import math

import pytest

from scenarios.curricula.pacing import (
    PACING_FUNCTIONS,
    check_pacing,
    cycle_sizes,
    pacing_fraction,
    pacing_size,
)

# The worked example of the notes: N = 500 examples, T = 510 steps, a = 0.8, b = 0.2, so the
# pool starts at bN = 100 and aT = 408 steps.
N, T, A, B = 500, 510, 0.8, 0.2


@pytest.mark.parametrize(
    "name, step, expected",
    [
        ("linear", 0, 100),
        ("linear", 50, 149),  # 100 + 400 * 50/408 = 149.02
        ("linear", 408, 500),
        ("linear", 509, 500),  # clipped to N
        ("quad", 100, 124),  # 100 + 400 * (100/408)^2 = 124.03
        ("sqrt", 100, 298),  # 100 + 400 * (100/408)^0.5 = 298.03
        ("step", 0, 100),
        ("step", 407, 100),  # b N until aT ...
        ("step", 408, 500),  # ... then everything
        ("exp", 0, 100),
        ("exp", 100, 100),  # 100 + 400 (e^2.451 - 1)/(e^10 - 1) = 100.19
        ("exp", 300, 128),  # 100 + 400 (e^7.353 - 1)/(e^10 - 1) = 128.3
        ("log", 0, 100),  # 100 + 400 (1 + ln(e^-10)/10) = 100
        ("log", 41, 408),  # 100 + 400 (1 + ln(0.1005)/10) = 408.1
        ("log", 200, 471),  # 100 + 400 (1 + ln(0.4902)/10) = 471.5
    ],
)
def test_pool_sizes_match_hand_computed(name, step, expected):
    assert pacing_size(name, A, B, step, T, N) == expected


def test_linear_worked_example_grows_about_one_sample_per_step():
    sizes = [pacing_size("linear", A, B, t, T, N) for t in range(T)]
    assert sizes[0] == 100 and sizes[-1] == 500
    assert sizes.index(500) == 408
    assert all(y >= x for x, y in zip(sizes, sizes[1:], strict=False))


def test_pool_is_clipped_to_at_least_one():
    assert pacing_size("linear", 0.5, 0.0, 0, 10, 7) == 1


def test_exp_overflow_returns_everything():
    assert pacing_size("exp", 1e-6, 0.1, 10_000, 10, 50) == 50


def test_fraction_form():
    assert pacing_fraction("linear", 0.5, 0.2, 0.0) == pytest.approx(0.2)
    assert pacing_fraction("linear", 0.5, 0.2, 0.25) == pytest.approx(0.6)
    assert pacing_fraction("step", 0.5, 0.2, 0.6) == 1.0


@pytest.mark.parametrize(
    "name, a, b, needle",
    [
        ("linear", 0.0, 0.2, "pacing_a"),
        ("linear", -1.0, 0.2, "pacing_a"),
        ("linear", math.inf, 0.2, "pacing_a"),
        ("exp", 0.5, 1.5, "pacing_b"),
        ("exp", 0.5, -0.1, "pacing_b"),
        ("cubic", 0.5, 0.2, "linear"),
    ],
)
def test_bad_parameters_raise_clear_errors(name, a, b, needle):
    with pytest.raises(ValueError, match=needle):
        check_pacing(name, a, b)
    with pytest.raises(ValueError, match=needle):
        pacing_size(name, a, b, 0, 10, 10)


def test_every_name_is_accepted():
    for name in PACING_FUNCTIONS:
        assert 1 <= pacing_size(name, 0.5, 0.3, 3, 10, 20) <= 20


def test_cycle_sizes_follow_the_official_schedule():
    # 0.25 -> /0.5 -> 0.5 -> 1.0 (end) -> *0.5 -> 0.5 -> 0.25 (start) -> 0.5; sum 3.0 >= 3
    assert cycle_sizes(0.25, 1.0, 0.5, 3.0) == [0.25, 0.5, 1.0, 0.5, 0.25, 0.5]
    # at least `total` epochs' worth of data
    sizes = cycle_sizes(0.1, 0.8, 0.5, 10.0)
    assert sum(sizes) >= 10.0 and min(sizes) == 0.1 and max(sizes) == 0.8


@pytest.mark.parametrize(
    "start, end, mult, needle",
    [(0.0, 1.0, 0.5, "cycle_start"), (0.5, 0.4, 0.5, "cycle_end"), (0.2, 1.0, 1.0, "multiplier")],
)
def test_cycle_bad_parameters(start, end, mult, needle):
    with pytest.raises(ValueError, match=needle):
        cycle_sizes(start, end, mult, 3.0)
