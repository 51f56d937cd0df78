"""The one local training loop, extended by plugins (DESIGN.md rule 2), and local evaluation.

A plugin returns values - an extra loss term, a batch order, a learning rate - and never
mutates the trainer. Method-specific client behaviour (proximal term, prototype loss,
hypergradient learning rates, data curricula) is a plugin of :func:`train_local`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from fedsim.device import model_device
from fedsim.interfaces import LoopPlugin


@dataclass
class StepInfo:
    """What a plugin may look at during one optimisation step."""

    epoch: int
    step: int
    lr: float
    inputs: torch.Tensor
    targets: torch.Tensor
    logits: torch.Tensor
    #: additive logit mask (0 for allowed classes, -inf otherwise) or None (task-incremental)
    logit_mask: torch.Tensor | None = None


@dataclass
class TrainResult:
    """Outcome of :func:`train_local`."""

    loss: float
    num_examples: int
    steps: int
    final_lr: float
    metrics: dict[str, float] = field(default_factory=dict)


def make_optimizer(
    name: str, params, lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    """Build the local optimizer (``sgd`` or ``adam``)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"train.optimizer: unknown optimizer '{name}', allowed: sgd, adam")


def train_local(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    plugins: Sequence[LoopPlugin] = (),
    transform=None,
    class_mask: Sequence[int] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``(x, y)`` with mini-batch cross-entropy plus plugin terms.

    Parameters
    ----------
    model : torch.nn.Module
        Model to train (its parameters with ``requires_grad`` are optimised).
    x, y : numpy.ndarray
        Local training inputs and labels.
    epochs, batch_size, lr : int, int, float
        Local epochs, batch size and initial learning rate.
    rng : numpy.random.Generator
        Source of the data order (a function of run seed, round and client id).
    optimizer, momentum, weight_decay : str, float, float
        Optimizer settings.
    plugins : Sequence[LoopPlugin]
        Method plugins (proximal term, prototype loss, hypergradient LR, curricula, ...).
    transform : callable, optional
        Batch input transform (domain shift), applied to the torch batch.
    class_mask : Sequence[int], optional
        Classes the logits are restricted to (task-incremental: the active task's head);
        the other logits get ``-inf`` before the loss and the plugins see masked logits.

    Returns
    -------
    TrainResult
        Mean training loss over steps, examples used, steps and the final learning rate.
    """
    n = len(y)
    if n == 0:
        return TrainResult(loss=float("nan"), num_examples=0, steps=0, final_lr=lr)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(optimizer, params, lr, momentum, weight_decay)
    device = model_device(model)  # batches follow the model (train.device, fedsim.device)
    xt = torch.from_numpy(x).to(device)
    yt = torch.from_numpy(y).to(device)
    model.train()
    total, steps, seen = 0.0, 0, 0
    current_lr = lr
    mask = None
    for epoch in range(epochs):
        order = None
        for plugin in plugins:
            proposed = plugin.order(n, epoch, rng)
            if proposed is not None:
                order = proposed
        if order is None:
            order = rng.permutation(n)
        for start in range(0, len(order), batch_size):
            idx = torch.from_numpy(np.asarray(order[start : start + batch_size])).to(device)
            inputs, targets = xt[idx], yt[idx]
            if transform is not None:
                inputs = transform(inputs)
            logits = model(inputs)
            if class_mask is not None:
                if mask is None:
                    mask = torch.full(
                        (logits.shape[-1],), float("-inf"), dtype=logits.dtype, device=device
                    )
                    mask[list(class_mask)] = 0.0
                logits = logits + mask
            loss = nn.functional.cross_entropy(logits, targets)
            info = StepInfo(epoch, steps, current_lr, inputs, targets, logits, mask)
            data_grads = _data_gradients(plugins, model, info)
            if data_grads is not None:  # DP-SGD: the data term's gradient comes privatised
                loss = loss.detach()
            for plugin in plugins:
                extra = plugin.extra_loss(model, info)
                if extra is not None:
                    loss = loss + extra
            opt.zero_grad(set_to_none=True)
            if data_grads is None or loss.requires_grad:  # DP-SGD without extra terms: none
                loss.backward()
            if data_grads is not None:
                _add_grads(params, data_grads)
            opt.step()
            for plugin in plugins:
                new_lr = plugin.next_lr(model, info)
                if new_lr is not None:
                    current_lr = float(new_lr)
                    for group in opt.param_groups:
                        group["lr"] = current_lr
            total += float(loss.detach())
            steps += 1
            seen += len(idx)
    merged: dict[str, float] = {}
    for plugin in plugins:
        merged.update(plugin.metrics())
    return TrainResult(
        loss=total / max(steps, 1),
        num_examples=n,
        steps=steps,
        final_lr=current_lr,
        metrics=merged,
    )


def _data_gradients(plugins: Sequence[LoopPlugin], model: nn.Module, info: StepInfo):
    """The first plugin's replacement of the cross-entropy gradient, or None."""
    for plugin in plugins:
        grads = plugin.data_gradients(model, info)
        if grads is not None:
            return grads
    return None


def _add_grads(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None]) -> None:
    """Add ``grads`` to each parameter's ``.grad`` (set when the extra terms left none)."""
    if len(grads) != len(params):
        raise ValueError(f"data_gradients returned {len(grads)} tensors for {len(params)} params")
    for p, g in zip(params, grads, strict=True):
        if g is None:
            continue
        p.grad = g.detach().clone() if p.grad is None else p.grad + g


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int = 512,
    class_mask: Sequence[int] | None = None,
    transform=None,
) -> tuple[float, float, int]:
    """Return ``(loss, accuracy, n)`` of ``model`` on ``(x, y)``.

    ``class_mask`` restricts predictions to the given classes (task-incremental,
    multi-head evaluation); the loss is computed over the masked logits as well.
    """
    n = len(y)
    if n == 0:
        return float("nan"), float("nan"), 0
    model.eval()
    device = model_device(model)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    mask = None
    loss_sum, correct = 0.0, 0
    for start in range(0, n, batch_size):
        inputs, targets = xt[start : start + batch_size], yt[start : start + batch_size]
        if transform is not None:
            inputs = transform(inputs)
        logits = model(inputs)
        if class_mask is not None:
            if mask is None:
                mask = torch.full((logits.shape[-1],), float("-inf"), device=device)
                mask[list(class_mask)] = 0.0
            logits = logits + mask
        loss_sum += float(nn.functional.cross_entropy(logits, targets, reduction="sum"))
        correct += int((logits.argmax(dim=1) == targets).sum())
    return loss_sum / n, correct / n, n
