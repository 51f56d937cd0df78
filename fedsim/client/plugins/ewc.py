"""Elastic weight consolidation: a Fisher-weighted quadratic penalty (FedEWC's client half).

Pure functions (:func:`ewc_penalty`, :func:`empirical_fisher`, :func:`consolidate`) and the
plugin :class:`EWCPenalty` of the one local loop. When the Fisher is estimated is decided in
:mod:`fedsim.client.plugins.baselines` (at each of the client's task ends).
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


def ewc_penalty(
    params: Mapping[str, torch.Tensor],
    anchor: Mapping[str, torch.Tensor],
    fisher: Mapping[str, torch.Tensor],
    lam: float,
) -> torch.Tensor:
    """``lambda/2 * sum_i F_i (theta_i - theta*_i)^2`` (Kirkpatrick et al. 2017, Eq. 3).

    Parameters
    ----------
    params, anchor, fisher : mapping of name to torch.Tensor
        Current parameters, the anchor ``theta*`` and the diagonal Fisher ``F``, by name
        (every name of ``fisher`` must be in the other two).
    lam : float
        ``lambda >= 0``.
    """
    total = sum(
        (fisher[name] * (params[name] - anchor[name]) ** 2).sum() for name in sorted(fisher)
    )
    return 0.5 * float(lam) * total


def empirical_fisher(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    class_mask: Sequence[int] | None = None,
    chunk: int = 64,
) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher ``F_i = 1/N sum_n (d log p(y_n | x_n) / d theta_i)^2``.

    Per-example gradients (``torch.func.vmap`` of ``grad``) of the log-likelihood of the
    *true* labels (the "empirical" Fisher), with the model in ``eval`` mode; squared, then
    averaged over the ``N`` examples. Only parameters with ``requires_grad`` get an entry.

    Returns
    -------
    dict
        Name -> tensor shaped like the parameter (on the model's device).
    """
    from torch.func import functional_call, grad, vmap

    model.eval()
    device = model_device(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    mask = None
    if class_mask is not None:
        mask = torch.full((_num_outputs(model, x, transform, device),), float("-inf"),
                          device=device)
        mask[list(class_mask)] = 0.0

    def log_lik(p, xi, yi):
        logits = functional_call(model, {**p, **frozen, **buffers}, (xi.unsqueeze(0),))
        if mask is not None:
            logits = logits + mask
        return torch.log_softmax(logits, dim=1)[0].gather(0, yi.reshape(1)).sum()

    per_example = vmap(grad(log_lik), in_dims=(None, 0, 0))
    fisher = {n: torch.zeros_like(params[n]) for n in names}
    for start in range(0, len(y), chunk):
        xb = torch.from_numpy(x[start : start + chunk]).to(device)
        yb = torch.from_numpy(y[start : start + chunk]).to(device)
        if transform is not None:
            xb = transform(xb)
        grads = per_example(params, xb, yb)
        for n in names:
            fisher[n] += (grads[n] ** 2).sum(dim=0)
    return {n: f / max(len(y), 1) for n, f in fisher.items()}


def _num_outputs(model, x, transform, device) -> int:
    with torch.no_grad():
        xb = torch.from_numpy(x[:1]).to(device)
        return int(model(transform(xb) if transform is not None else xb).shape[-1])


def consolidate(
    old: Mapping[str, torch.Tensor] | None, new: Mapping[str, torch.Tensor], gamma: float
) -> dict[str, torch.Tensor]:
    """Online EWC's running Fisher ``F <- gamma * F_old + F_new`` (Schwarz et al. 2018, Eq. 8).

    With ``gamma = 1`` the Fisher information of every past task is summed (Huszar 2018's
    correction of multi-task EWC into a single penalty).
    """
    if old is None:
        return {n: t.clone() for n, t in new.items()}
    return {n: gamma * old[n].to(new[n].device) + new[n] for n, t in new.items()}


class EWCPenalty(BasePlugin):
    """Adds the EWC penalty (:func:`ewc_penalty`) to every batch loss.

    Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks", PNAS 2017,
    Eq. (3): ``L(theta) = L_B(theta) + sum_i lambda/2 F_i (theta_i - theta*_A,i)^2``, in its
    online form for a stream of tasks (one running Fisher, one anchor: the parameters at the
    last task end; Schwarz et al., "Progress & Compress", ICML 2018).

    Parameters
    ----------
    fisher, anchor : mapping of name to torch.Tensor
        Running diagonal Fisher and anchor parameters (on the model's device).
    lam : float
        ``lambda >= 0``.
    """

    def __init__(
        self, fisher: Mapping[str, torch.Tensor], anchor: Mapping[str, torch.Tensor], lam: float
    ) -> None:
        if lam < 0:
            raise ValueError(f"strategy.ewc_lambda must be >= 0, got {lam}")
        self.fisher, self.anchor, self.lam = dict(fisher), dict(anchor), float(lam)
        self._sum, self._steps = 0.0, 0

    def extra_loss(self, model: nn.Module, info: StepInfo) -> torch.Tensor | None:
        """Return the penalty of the current parameters."""
        if self.lam == 0.0:
            return None
        params = dict(model.named_parameters())
        penalty = ewc_penalty(params, self.anchor, self.fisher, self.lam)
        self._sum += float(penalty.detach())
        self._steps += 1
        return penalty

    def metrics(self) -> dict[str, float]:
        """Mean penalty over the round's steps."""
        return {wire.EWC_PENALTY: self._sum / max(self._steps, 1)}
