"""TARGET's client half: KD from the old global model on the server's synthetic inputs.

Zhang et al., "TARGET: Federated Class-Continual Learning via Exemplar-Free Distillation",
ICCV 2023, Sec. 4 ("client side"): on every local step the client adds

    lambda_kd * KD(S(x_syn)[old], T(x_syn)[old]; tau),
    KD(s, t; tau) = - 1/|B| sum_x sum_i softmax(t / tau)_i log softmax(s / tau)_i

over a batch ``x_syn`` of the server's synthetic set, where ``T`` is the old global model and
``[old]`` restricts logits to the old classes (official ``_KD_loss`` with ``tau = 2``, no
``tau^2``; ``methods/target.py``). The KD maths is
:func:`fedsim.client.plugins.distillation.kd_loss` (the same form as LwF's). Which synthetic set
and teacher apply is the server's decision (:mod:`strategies.target`); they arrive with the
message and :mod:`fedsim.client.plugins.baselines` builds this plugin from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fedsim import wire
from fedsim.client.plugins.distillation import kd_loss
from fedsim.client.training_loop import StepInfo
from fedsim.interfaces import BasePlugin


class SyntheticDistillation(BasePlugin):
    """Adds ``lambda_kd * kd_loss`` of the old model on a synthetic batch to every step.

    Synthetic batches have the size of the step's batch and walk a seeded permutation of the
    synthetic set, cycling (the official code zips the local and the synthetic loaders).

    Parameters
    ----------
    teacher : torch.nn.Module
        The old global model (frozen, ``eval`` mode).
    synthetic : numpy.ndarray
        The synthetic inputs ``[n, *input_shape]``.
    classes : Sequence[int]
        The old classes (the KD's logit columns).
    weight, temperature : float
        ``lambda_kd >= 0`` and ``tau > 0``.
    rng : numpy.random.Generator
        Order of the synthetic batches (its own stream: the data order is untouched).
    """

    def __init__(
        self,
        teacher: nn.Module,
        synthetic: np.ndarray,
        classes: Sequence[int],
        weight: float,
        temperature: float,
        rng: np.random.Generator,
    ) -> None:
        if weight < 0:
            raise ValueError(f"strategy.kd_weight must be >= 0, got {weight}")
        if temperature <= 0:
            raise ValueError(f"strategy.temperature must be > 0, got {temperature}")
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        device = next(teacher.parameters()).device
        self.x = torch.from_numpy(np.ascontiguousarray(synthetic, dtype=np.float32)).to(device)
        self.cols = torch.as_tensor(list(classes), dtype=torch.long, device=device)
        self.weight, self.temperature = float(weight), float(temperature)
        self.rng = rng
        self._order = np.empty(0, dtype=np.int64)
        self._sum, self._steps = 0.0, 0

    def _batch(self, size: int) -> torch.Tensor:
        """The next ``size`` synthetic inputs of the cycling seeded order."""
        while len(self._order) < size:
            self._order = np.concatenate([self._order, self.rng.permutation(len(self.x))])
        idx, self._order = self._order[:size], self._order[size:]
        return self.x[torch.from_numpy(idx).to(self.x.device)]

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """Return ``lambda_kd * kd_loss`` on the next synthetic batch."""
        if self.weight == 0.0 or len(self.cols) == 0 or len(self.x) == 0:
            return None
        x = self._batch(min(len(info.targets), len(self.x)))
        with torch.no_grad():
            teacher = self.teacher(x)[:, self.cols]
        loss = kd_loss(model(x)[:, self.cols], teacher, self.temperature)
        self._sum += float(loss.detach())
        self._steps += 1
        return self.weight * loss

    def metrics(self) -> dict[str, float]:
        """Mean KD term (before the weight) over the round's steps."""
        return {wire.TARGET_KD_LOSS: self._sum / max(self._steps, 1)}
