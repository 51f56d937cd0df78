"""Which clients a round evaluates: boundary panel and a seeded sample (split from the loop)."""

from __future__ import annotations

from typing import Any

from fedsim.experiment import Experiment
from fedsim.seeding import rng_for


def eval_cohort(
    exp: Experiment, settings: Any, panel: frozenset[int] | None, rnd: int
) -> list[int]:
    """Clients evaluated in round ``rnd``, sorted.

    Those at a task boundary (of the panel, if one), plus a seeded ``eval.client_fraction`` of
    the clients that have started (``settings``: the round loop's ``LoopSettings``).
    """
    plan = exp.plan
    chosen: set[int] = set()
    if settings.client_boundary_eval:
        chosen |= {
            s.client_id
            for s in plan.streams
            if (panel is None or s.client_id in panel)
            and s.ending_at(rnd) is not None
        }
    if settings.client_eval_fraction > 0:
        started = [s.client_id for s in plan.streams if s.seen_positions(rnd)]
        k = int(round(settings.client_eval_fraction * len(started)))
        if k:
            rng = rng_for(exp.seed, "eval-select", rnd)
            chosen |= {int(c) for c in rng.choice(started, size=k, replace=False)}
    return sorted(chosen)


def evaluation_panel(exp: Experiment, size: int | None) -> frozenset[int] | None:
    """The clients evaluated at their task boundaries: all (None) or a fixed seeded sample.

    A fixed panel gives complete per-client accuracy matrices for its members while the cost
    of boundary evaluation stays bounded in federations of many thousands of clients.
    """
    n = exp.plan.num_clients
    if size is None or size >= n:
        return None
    rng = rng_for(exp.seed, "eval-panel")
    return frozenset(int(c) for c in rng.choice(n, size=size, replace=False))
