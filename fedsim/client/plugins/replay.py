"""Experience replay from a per-client exemplar memory of fixed budget (FedAvg + replay).

The memory holds *indices* into the training set (and each exemplar's task id, for its
domain transform and task head), never copies of data. Pure functions fill it
(:func:`reservoir_update`, :func:`herding_order`, :func:`herding_update`); the plugin
:class:`ExperienceReplay` adds the loss of a memory batch to every step of the one local
loop. When the memory is filled is decided in :mod:`fedsim.client.plugins.baselines`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from fedsim import wire
from fedsim.client.training_loop import StepInfo
from fedsim.device import model_device
from fedsim.interfaces import BasePlugin


def reservoir_update(
    memory: list, seen: int, stream: Sequence, capacity: int, rng: np.random.Generator
) -> tuple[list, int]:
    """Vitter's Algorithm R over ``stream`` (Chaudhry et al. 2019's reservoir memory).

    The ``n``-th item (0-based, counting every item ever offered) fills a free slot while
    ``n < capacity``; otherwise it replaces slot ``j ~ U{0..n}`` when ``j < capacity``. Every
    item offered so far is then in the memory with probability ``capacity / (n + 1)``.

    Returns
    -------
    (list, int)
        The new memory and the number of items offered so far.
    """
    memory = list(memory)
    for item in stream:
        if len(memory) < capacity:
            memory.append(item)
        else:
            j = int(rng.integers(0, seen + 1))
            if j < capacity:
                memory[j] = item
        seen += 1
    return memory, seen


def herding_order(features: np.ndarray, m: int) -> list[int]:
    """Herding (iCaRL): rows of ``features`` chosen one by one to track the class mean.

    Rebuffi et al., "iCaRL", CVPR 2017, Algorithm 4: features are L2-normalised,
    ``mu = mean_x phi(x)``, and for ``k = 1..m``:
    ``p_k = argmin_x || mu - 1/k (phi(x) + sum_{j<k} phi(p_j)) ||`` over rows not yet chosen
    (ties: the lowest row). The result is in priority order, so the first ``m'`` rows are
    the exemplar set of a smaller budget ``m'`` (Algorithm 5, ReduceExemplarSet).
    """
    phi = np.asarray(features, dtype=np.float64)
    phi = phi / np.maximum(np.linalg.norm(phi, axis=1, keepdims=True), 1e-12)
    mu = phi.mean(axis=0)
    chosen: list[int] = []
    running = np.zeros_like(mu)
    free = np.ones(len(phi), dtype=bool)
    for k in range(1, min(m, len(phi)) + 1):
        dist = np.linalg.norm(mu - (running + phi) / k, axis=1)
        dist[~free] = np.inf
        best = int(np.argmin(dist))
        chosen.append(best)
        free[best] = False
        running += phi[best]
    return chosen


def herding_update(
    groups: Mapping[tuple[int, int], list[int]],
    new: Mapping[tuple[int, int], list[int]],
    capacity: int,
) -> dict[tuple[int, int], list[int]]:
    """Class-balanced memory: ``capacity`` exemplars shared as evenly as possible by groups.

    ``groups`` (kept) and ``new`` map a ``(task id, class)`` group to its exemplars in herding
    priority order (a group of ``new`` replaces a kept one of the same key: a recurring task).
    With ``G`` groups each keeps its first ``capacity // G`` entries (iCaRL's ``m = K / t``,
    Algorithm 5) and the first ``capacity % G`` groups in ``(task, class)`` order one more, so
    the memory is full whenever there are enough exemplars and never exceeds ``capacity``.
    A group is a class of one task (in domain-incremental streams the same class in another
    domain is another group).
    """
    merged = {**{k: list(v) for k, v in groups.items()}, **{k: list(v) for k, v in new.items()}}
    keys = sorted(merged)
    if not keys:
        return {}
    base, extra = divmod(int(capacity), len(keys))
    sizes = {k: base + (1 if i < extra else 0) for i, k in enumerate(keys)}
    return {k: merged[k][: sizes[k]] for k in keys if sizes[k] > 0}


class ExperienceReplay(BasePlugin):
    """Adds the cross-entropy of a memory batch to every batch loss.

    Experience replay as in Chaudhry et al., "On Tiny Episodic Memories in Continual
    Learning", 2019 (ER: each step, a batch of the current task and a batch from the memory;
    here ``L = CE(B_t) + CE(B_M)``, the form of Buzzega et al. 2020's ER baseline). Memory
    batches are drawn uniformly without replacement from the memory, each exemplar passed
    through its own task's domain transform and, in task-incremental runs, its task's head.

    Parameters
    ----------
    x, y : numpy.ndarray
        The whole training set (the memory holds indices into it).
    index, task : Sequence[int]
        The memory: example indices and their task ids.
    batch_size : int
        Memory examples per step (at most the memory size).
    transform_for : callable
        Task id -> input transform (or None).
    mask_for : callable, optional
        Task id -> the task's classes (task-incremental), or None for a single head.
    rng : numpy.random.Generator
        Source of the memory batches (its own stream; the data order is untouched).
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        index: Sequence[int],
        task: Sequence[int],
        batch_size: int,
        transform_for: Callable[[int], Callable | None],
        rng: np.random.Generator,
        mask_for: Callable[[int], Sequence[int]] | None = None,
    ) -> None:
        self.x, self.y = x, y
        self.index, self.task = np.asarray(index, dtype=np.int64), np.asarray(task, dtype=np.int64)
        self.batch_size = min(int(batch_size), len(self.index))
        self.transform_for, self.mask_for, self.rng = transform_for, mask_for, rng
        self._sum, self._steps = 0.0, 0

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """Return the mean cross-entropy of a memory batch."""
        if self.batch_size == 0:
            return None
        pick = self.rng.choice(len(self.index), size=self.batch_size, replace=False)
        device = model_device(model)
        total = None
        for task_id in np.unique(self.task[pick]):
            rows = self.index[pick[self.task[pick] == task_id]]
            inputs = torch.from_numpy(self.x[rows]).to(device)
            transform = self.transform_for(int(task_id))
            if transform is not None:
                inputs = transform(inputs)
            logits = model(inputs)
            if self.mask_for is not None:
                mask = torch.full((logits.shape[-1],), float("-inf"), device=device)
                mask[list(self.mask_for(int(task_id)))] = 0.0
                logits = logits + mask
            targets = torch.from_numpy(self.y[rows]).to(device)
            part = nn.functional.cross_entropy(logits, targets, reduction="sum")
            total = part if total is None else total + part
        loss = total / self.batch_size
        self._sum += float(loss.detach())
        self._steps += 1
        return loss

    def metrics(self) -> dict[str, float]:
        """Mean replay loss over the round's steps."""
        return {wire.REPLAY_LOSS: self._sum / max(self._steps, 1)}
