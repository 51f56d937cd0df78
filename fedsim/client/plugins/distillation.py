"""Learning without Forgetting: distillation from the previous-task model (FedLwF's client half).

The maths is :func:`kd_loss`; :class:`LwFDistillation` is the plugin of the one local loop
(:func:`fedsim.client.training_loop.train_local`). When the teacher is taken and which classes
it is distilled over is decided in :mod:`fedsim.client.plugins.baselines`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fedsim import wire
from fedsim.client.training_loop import StepInfo
from fedsim.interfaces import BasePlugin


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Li & Hoiem's distillation loss, averaged over the batch.

    ``L_old = - sum_i y'_o(i) log yhat'_o(i)`` with ``y'_o = softmax(z_teacher / T)`` and
    ``yhat'_o = softmax(z_student / T)`` (Li & Hoiem 2017, Eq. 2: ``y'^(i) = (y^(i))^(1/T) /
    sum_j (y^(j))^(1/T)``, which is the softmax of the logits divided by ``T``). No ``T^2``
    factor: neither the paper nor the official code has one (lizhitwo/LearningWithoutForgetting,
    ``vl_nnsoftmaxdiff.m``, mode ``MI``: cross-entropy of the tempered targets and
    ``softmax(X / T)``, gradient ``(softmax - c) / T``); Hinton et al. 2015 scale by ``T^2``,
    which with ``T = 2`` is a factor 4 that ``lambda`` absorbs.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor
        ``[batch, classes]`` logits over the same classes.
    temperature : float
        ``T > 0``.

    Returns
    -------
    torch.Tensor
        The scalar loss (a cross-entropy between soft targets; differs from the KL divergence
        by the teacher's entropy, a constant of the student).
    """
    soft = torch.softmax(teacher_logits / temperature, dim=1)
    log_p = torch.log_softmax(student_logits / temperature, dim=1)
    return -(soft * log_p).sum(dim=1).mean()


class LwFDistillation(BasePlugin):
    """Adds ``lambda * L_old`` (:func:`kd_loss`) of the previous-task model to every batch loss.

    Li & Hoiem, "Learning without Forgetting", ECCV 2016 / TPAMI 2018, Eq. (2) and the
    objective ``lambda_o L_old(Y_o, Yhat_o) + L_new(Y_n, Yhat_n)`` (defaults ``lambda_o = 1``,
    ``T = 2``). The teacher's logits are recorded on the same (transformed) batch the student
    sees. Each class group (one per old task in task-incremental runs, whose heads are
    separate; one group of all old classes otherwise) is softmaxed on its own, and the group
    losses are summed as in the paper's multi-task objective.

    Parameters
    ----------
    teacher : torch.nn.Module
        The previous-task model (frozen, evaluated in ``eval`` mode).
    lam, temperature : float
        Weight ``lambda >= 0`` and temperature ``T > 0``.
    groups : Sequence[Sequence[int]]
        Class groups to distil over (each softmaxed separately).
    masked : bool
        The loop masks the student's logits (task-incremental): recompute them unmasked.
    """

    def __init__(
        self,
        teacher: nn.Module,
        lam: float,
        temperature: float,
        groups: Sequence[Sequence[int]],
        *,
        masked: bool = False,
    ) -> None:
        if lam < 0:
            raise ValueError(f"strategy.lwf_lambda must be >= 0, got {lam}")
        if temperature <= 0:
            raise ValueError(f"strategy.temperature must be > 0, got {temperature}")
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.lam, self.temperature = float(lam), float(temperature)
        self.groups = [list(g) for g in groups if len(g) > 0]
        self.masked = masked
        self._sum, self._steps = 0.0, 0

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """Return ``lambda * sum_groups kd_loss`` on this batch."""
        if self.lam == 0.0 or not self.groups:
            return None
        with torch.no_grad():
            teacher = self.teacher(info.inputs)
        student = model(info.inputs) if self.masked else info.logits
        loss = sum(
            kd_loss(student[:, g], teacher[:, g], self.temperature) for g in self.groups
        )
        self._sum += float(loss.detach())
        self._steps += 1
        return self.lam * loss

    def metrics(self) -> dict[str, float]:
        """Mean distillation loss ``L_old`` over the round's steps."""
        return {wire.LWF_KD: self._sum / max(self._steps, 1)}
