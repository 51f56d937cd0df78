"""PILoRA's orthogonality regulariser between the current and earlier LoRA A matrices."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from fedsim import wire
from fedsim.client.training_loop import StepInfo
from fedsim.interfaces import BasePlugin


def orthogonality_penalty(
    current: Sequence[torch.Tensor], previous: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """``sum_l sum_{s<t} sum_{ij} |(A_s^l A_t^{l T})_{ij}|`` (PILoRA's ``l_ort``).

    ``current[l]`` is the current task's ``A_t`` of layer ``l`` (``[r, in]``; a Conv2d's
    ``[r, in, k, k]`` is flattened to ``[r, in k k]``) and ``previous[l]`` the frozen
    ``A_s`` of the earlier tasks on that layer. The entrywise absolute sum is the official
    code's ``torch.abs(torch.mm(pre_param, param.T)).sum()``; it is zero exactly when every
    row of ``A_t`` is orthogonal to every row of every ``A_s``.
    """
    total = torch.zeros(())
    for a_t, olds in zip(current, previous, strict=True):
        cur = a_t.reshape(a_t.shape[0], -1)
        total = total.to(cur.device)
        for a_s in olds:
            total = total + torch.abs(a_s.reshape(a_s.shape[0], -1) @ cur.T).sum()
    return total


def lora_a_pairs(
    model: nn.Module, current: str, earlier: Sequence[str]
) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    """The current slot's ``lora_A`` parameter of each layer and the earlier slots' (detached).

    Slots are ``peft`` adapter names (``...lora_A.<slot>.weight``); layers are matched by the
    parameter name with the slot removed.
    """
    pattern = re.compile(r"^(.*\.lora_A)\.([^.]+)\.weight$")
    by_layer: dict[str, dict[str, torch.Tensor]] = {}
    for name, p in model.named_parameters():
        m = pattern.match(name)
        if m:
            by_layer.setdefault(m.group(1), {})[m.group(2)] = p
    cur, prev = [], []
    for layer in sorted(by_layer):
        slots = by_layer[layer]
        if current not in slots:
            continue
        cur.append(slots[current])
        prev.append([slots[s].detach() for s in earlier if s in slots])
    return cur, prev


class OrthogonalLoRA(BasePlugin):
    """Adds ``gamma * L_ort`` (:func:`orthogonality_penalty`) to every batch loss.

    Guo et al., "PILoRA: Prototype Guided Incremental LoRA for Federated Class-Incremental
    Learning" (ECCV 2024), section "Incremental LoRA" (``l_ort``): the LoRA of task ``t`` is trained
    while the earlier tasks' LoRA stay frozen and are summed into the model; its ``A_t`` is
    pushed orthogonal to their ``A_s``. The official code uses ``gamma = 0.5`` from the second
    task on (nothing to be orthogonal to before).

    Parameters
    ----------
    current : list of torch.Tensor
        The trainable ``A_t`` of each adapted layer.
    previous : list of list of torch.Tensor
        The frozen ``A_s`` of each layer (same order).
    gamma : float
        Weight (>= 0).
    """

    def __init__(
        self,
        current: Sequence[torch.Tensor],
        previous: Sequence[Sequence[torch.Tensor]],
        gamma: float,
    ) -> None:
        if not float(gamma) >= 0:
            raise ValueError(f"{wire.PILORA_ORTHO} must be >= 0, got {gamma}")
        self.current, self.previous, self.gamma = list(current), list(previous), float(gamma)
        self._sum, self._steps = 0.0, 0

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """Return ``gamma * L_ort`` (None when there is no earlier LoRA or gamma is 0)."""
        if self.gamma == 0.0 or not any(self.previous):
            return None
        term = orthogonality_penalty(self.current, self.previous)
        self._sum += float(term.detach())
        self._steps += 1
        return self.gamma * term

    def metrics(self) -> dict[str, float]:
        """Report the mean orthogonality term (before gamma)."""
        return {wire.PILORA_ORTHO_TERM: self._sum / self._steps} if self._steps else {}
