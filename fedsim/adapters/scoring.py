"""Scoring adapters: by the task id, or routed per example when no task id is given.

Routing rule (documented in docs/adapters.md): every example is scored by each candidate
adapter and the prediction of the adapter with the *lowest predictive entropy* (the most
confident one) is kept - the rule used to pick an expert without a task label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

ROUTINGS = ("task_id", "entropy")


@torch.no_grad()
def logits_of(
    model: nn.Module, x: np.ndarray, transform=None, batch_size: int = 512
) -> torch.Tensor:
    """Return the model's logits on ``x`` (eval mode, batched), on the CPU."""
    model.eval()
    device = next(iter(model.parameters())).device
    xt = torch.from_numpy(x).to(device)
    out = []
    for start in range(0, len(xt), batch_size):
        inputs = xt[start : start + batch_size]
        if transform is not None:
            inputs = transform(inputs)
        out.append(model(inputs).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def _masked(logits: torch.Tensor, class_mask: Sequence[int] | None) -> torch.Tensor:
    if class_mask is None:
        return logits
    mask = torch.full((logits.shape[-1],), float("-inf"))
    mask[list(class_mask)] = 0.0
    return logits + mask


def routed_logits(
    candidates: Sequence[torch.Tensor], class_mask: Sequence[int] | None = None
) -> torch.Tensor:
    """Per example, the (masked) logits of the candidate whose softmax has the lowest entropy."""
    stacked = torch.stack([_masked(c, class_mask) for c in candidates])  # (C, N, K)
    logp = torch.log_softmax(stacked, dim=-1)
    entropy = -(logp.exp() * torch.nan_to_num(logp, neginf=0.0)).sum(-1)  # (C, N)
    best = entropy.argmin(dim=0)  # (N,)
    return stacked[best, torch.arange(stacked.shape[1])]


def task_accuracy(
    task_id: int,
    x: np.ndarray,
    y: np.ndarray,
    *,
    set_entry: Callable[[int], nn.Module],
    candidates: Sequence[int],
    routing: str,
    class_mask: Sequence[int] | None = None,
    transform=None,
) -> tuple[float, float]:
    """Accuracy on one task's test examples with a bank of adapters.

    ``set_entry(t)`` loads bank entry ``t`` and returns the model. ``routing="task_id"``
    uses the task's own entry; ``"entropy"`` routes every example among ``candidates``
    (with no candidate, the task's own entry). Returns ``(accuracy, mean cross-entropy)``.
    """
    if len(y) == 0:
        return float("nan"), float("nan")
    if routing == "task_id" or not candidates:
        logits = _masked(logits_of(set_entry(task_id), x, transform), class_mask)
    else:
        logits = routed_logits(
            [logits_of(set_entry(c), x, transform) for c in candidates], class_mask
        )
    yt = torch.from_numpy(y)
    loss = float(nn.functional.cross_entropy(logits, yt))
    return float((logits.argmax(-1) == yt).float().mean()), loss
