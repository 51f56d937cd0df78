"""Data-level curriculum inside a task: a plugin of the one local loop that paces ordered data.

Vahidian et al., "When Do Curricula Work in Federated Learning?" (ICCV 2023), official code
``Client_FedAvg_Curr_LG_Loss.train`` (sreevatsank1999/Curriculum-FL), followed here:

* every time a client trains, all its examples are scored by a scoring model in eval mode -
  the per-example cross-entropy under the **received global model** ("G-Loss", ``global``),
  the client's previous local model (``local``; the global model if it has none) or an
  ``expert`` trained on the client's task data;
* ascending loss is easy -> hard; ``curriculum`` keeps it, ``anti`` reverses it, ``random``
  draws one permutation per round;
* with ``N`` examples, batch ``B`` and ``E`` epochs, a budget of ``T = (N // B + 1) * E``
  steps is paced: each pass trains on ``order[: max(g(step), min_pool)]`` (``g`` from
  :mod:`scenarios.curricula.pacing`, hard minimum 32 samples) shuffled; the pool is recomputed
  after each complete pass, and passes continue while ``step < T`` (so small early pools are
  visited several times; the pacing restarts every round, as in the official code).

fedsim's loop asks for one order per epoch; epoch ``e`` receives the passes that start before
step ``T * (e + 1) / E``, concatenated, so the whole round makes the official sequence of
passes. Steps are counted per pass as ``ceil(pool / B)``; the loop cuts batches from the
concatenation, so a batch may straddle two passes.

``pacing: cyclical`` follows Kesgin & Amasyali, "Cyclical Curriculum Learning" (IEEE TNNLS
2023): epoch ``e`` trains on a fraction ``cycle_sizes(...)[e]`` of the data, drawn without
replacement with probability proportional to ``1 / loss`` (``curriculum``), ``loss``
(``anti``) or uniformly (``random``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fedsim import wire
from fedsim.client.training_loop import train_local
from fedsim.device import model_device
from fedsim.interfaces import BasePlugin
from scenarios.curricula.pacing import check_cycle, check_pacing, cycle_sizes, pacing_size

ORDERINGS = ("curriculum", "anti", "random")


@torch.no_grad()
def example_losses(
    model: nn.Module, x: np.ndarray, y: np.ndarray, *, transform=None, batch_size: int = 512
) -> np.ndarray:
    """Return the per-example cross-entropy of ``model`` on ``(x, y)`` (eval mode, no grad)."""
    was_training = model.training
    model.eval()
    out = []
    device = model_device(model)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    for start in range(0, len(y), batch_size):
        inputs = xt[start : start + batch_size]
        if transform is not None:
            inputs = transform(inputs)
        logits = model(inputs)
        out.append(
            nn.functional.cross_entropy(logits, yt[start : start + batch_size], reduction="none")
        )
    model.train(was_training)
    return torch.cat(out).cpu().numpy().astype(float) if out else np.zeros(0)


class DataCurriculum(BasePlugin):
    """Order a task's examples by a scoring model's loss and pace how many are used.

    Parameters
    ----------
    scores : numpy.ndarray
        Per-example difficulty (loss under the scoring model), one per local example.
    ordering : str
        ``curriculum`` (easy -> hard), ``anti`` (hard -> easy) or ``random``.
    pacing : str
        A pacing function name of :mod:`scenarios.curricula.pacing`, or ``cyclical``.
    a, b : float
        Official pacing parameters (fraction of steps to reach all data, start fraction).
    batch_size, epochs : int
        Local batch size and epochs (they fix the step budget ``T``).
    rng : numpy.random.Generator
        Source of the within-pool shuffles and the random ordering.
    min_pool : int
        Hard minimum pool size (32 in the official code).
    cycle : Sequence[float]
        ``(start, end, multiplier)`` of the cyclical schedule.
    """

    def __init__(
        self,
        scores: np.ndarray,
        *,
        ordering: str,
        pacing: str,
        a: float,
        b: float,
        batch_size: int,
        epochs: int,
        rng: np.random.Generator,
        min_pool: int = 32,
        cycle: Sequence[float] = (0.25, 1.0, 0.5),
    ) -> None:
        if ordering not in ORDERINGS:
            raise ValueError(f"curriculum ordering '{ordering}' unknown; allowed: {ORDERINGS}")
        if pacing == "cyclical":
            check_cycle(*(float(c) for c in cycle))
        else:
            check_pacing(pacing, a, b)
        self.scores = np.asarray(scores, dtype=float)
        self.n = len(self.scores)
        self.ordering, self.pacing = ordering, pacing
        self.a, self.b = float(a), float(b)
        self.batch_size, self.epochs = int(batch_size), int(epochs)
        self.min_pool = min(int(min_pool), self.n)
        self.cycle = tuple(float(c) for c in cycle)
        self.total_steps = (self.n // self.batch_size + 1) * self.epochs
        ascending = np.argsort(self.scores, kind="stable")
        if ordering == "curriculum":
            self.ranked = ascending
        elif ordering == "anti":
            self.ranked = ascending[::-1].copy()
        else:
            self.ranked = rng.permutation(self.n)
        self.step = 0
        self.pool_sizes: list[int] = []
        self.scored_by_received = False

    def order(self, num_examples: int, epoch: int, rng: np.random.Generator) -> np.ndarray:
        """Return the example positions of epoch ``epoch`` (one or more paced passes)."""
        if num_examples != self.n:
            raise ValueError(f"curriculum scored {self.n} examples, the loop has {num_examples}")
        if self.pacing == "cyclical":
            return self._cyclical(epoch, rng)
        bound = self.total_steps * (epoch + 1) // self.epochs
        passes = []
        while self.step < bound:
            size = max(
                pacing_size(self.pacing, self.a, self.b, self.step, self.total_steps, self.n),
                self.min_pool,
            )
            passes.append(rng.permutation(self.ranked[:size]))
            self.pool_sizes.append(size)
            self.step += math.ceil(size / self.batch_size)
        return np.concatenate(passes) if passes else np.zeros(0, dtype=np.int64)

    def _cyclical(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        start, end, mult = self.cycle
        fractions = cycle_sizes(start, end, mult, float(self.epochs))
        size = max(int(self.n * fractions[epoch % len(fractions)]), self.min_pool)
        if self.ordering == "random":
            p = None
        else:
            weight = self.scores if self.ordering == "anti" else 1.0 / (self.scores + 1e-12)
            weight = np.maximum(weight, 1e-12)
            p = weight / weight.sum()
        self.pool_sizes.append(size)
        chosen = rng.choice(self.n, size=size, replace=False, p=p)
        return chosen.astype(np.int64)

    def metrics(self) -> dict[str, float]:
        """Mean pool share over the round's passes (``curriculum-pool``)."""
        if not self.pool_sizes or self.n == 0:
            return {}
        return {wire.CURRICULUM_POOL: float(np.mean(self.pool_sizes) / self.n)}


def curriculum_from_config(
    config,
    *,
    received: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    transform,
    hp: dict,
    local_state,
    make_model,
    rng: np.random.Generator,
) -> DataCurriculum | None:
    """Build the plugin from the flat ``curriculum.*`` items of a train ConfigRecord.

    Parameters
    ----------
    config : flwr.app.ConfigRecord
        The round's train config (no ``curriculum.order`` item: no curriculum, None).
    received : torch.nn.Module
        The model just loaded with the received global weights (the G-Loss scorer).
    x, y : numpy.ndarray
        The client's task data.
    transform : callable or None
        The task's input transform.
    hp : dict
        Local hyper-parameters (``epochs``, ``batch_size``, ``lr``, optimizer settings).
    local_state : dict or None
        The client's previous local model state dict (``local`` scoring), if any.
    make_model : callable
        Factory of a freshly initialised model (``expert`` scoring).
    rng : numpy.random.Generator
        Source of shuffles (a function of run seed, round and client id).
    """
    ordering = str(config.get(wire.CURRICULUM_ORDER, "none"))
    if ordering == "none" or len(y) == 0:
        return None
    scoring = str(config.get(wire.CURRICULUM_SCORING, "global"))
    scorer = received
    if scoring == "local" and local_state is not None:
        scorer = make_model().to(model_device(received))
        scorer.load_state_dict(local_state)
    elif scoring == "expert":
        scorer = make_model().to(model_device(received))
        train_local(
            scorer,
            x,
            y,
            rng=rng,
            transform=transform,
            **{**hp, "epochs": int(config.get(wire.CURRICULUM_EXPERT_EPOCHS, 5))},
        )
    elif scoring not in ("global", "local"):
        raise ValueError(f"{wire.CURRICULUM_SCORING}: unknown scoring '{scoring}'")
    scores = example_losses(scorer, x, y, transform=transform)
    plugin = DataCurriculum(
        scores,
        ordering=ordering,
        pacing=str(config.get(wire.CURRICULUM_PACING, "linear")),
        a=float(config.get(wire.CURRICULUM_A, 0.8)),
        b=float(config.get(wire.CURRICULUM_B, 0.2)),
        batch_size=int(hp["batch_size"]),
        epochs=int(hp["epochs"]),
        rng=rng,
        min_pool=int(config.get(wire.CURRICULUM_MIN_POOL, 32)),
        cycle=list(config.get(wire.CURRICULUM_CYCLE, [0.25, 1.0, 0.5])),
    )
    plugin.scored_by_received = scorer is received
    return plugin
