"""FOT's client half: the representation of an ended task, sent once with the next update.

Bakman et al., "Federated Orthogonal Training", ICLR 2024, Sec. 4 (GPSE): at a task end each
client forms, for every projected layer, the representation matrix ``A_i`` (``d x n``: the
layer's inputs on its examples of the ended task; conv layers: the unfolded patches, as
``nn.Unfold`` with the layer's kernel, stride, padding and dilation, GPM's im2col), and the
server extracts the principal subspace of ``A = [A_1 ... A_N]``.

What travels: the paper (and its code) sends a random sketch ``A_i G_i`` for secure
aggregation; fedsim sends the exact factor ``B_i = U_i S_i`` of ``A_i = U_i S_i V_i^T``,
cut at its numerical rank (``B_i = A_i V_i``: the activations rotated by the client's own right
singular vectors, so the server learns ``A_i A_i^T`` and nothing per example). ``B_i B_i^T =
A_i A_i^T``, so the server's SVD of ``[B_1 ... B_N]`` is that of ``A`` itself (no sketching
error). A factor has ``d x min(d, n)`` entries (float32).

``max_rank`` (``strategy.max_rank``) caps the columns: the client then sends ``B_i``'s top ``k``
columns ``U_k S_k`` (the best rank-``k`` approximation of ``A_i A_i^T``, Eckart-Young) and the
energy it dropped, ``sum_{j >= k} s_j^2``, so that the server's energy criterion still divides by
the task's whole energy ``||A||_F^2`` (:func:`strategies.subspace.extend_basis`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from fedsim import wire
from fedsim.device import model_device
from strategies.subspace import CONV


class _Representation:
    """``A``'s columns while they are fewer than ``d``, else the Gram matrix ``A A^T``."""

    def __init__(self, d: int) -> None:
        self.d, self.cols, self.gram = d, [], None
        self.n = 0

    def add(self, block: torch.Tensor) -> None:
        block = block.double()
        self.n += block.shape[1]
        if self.gram is None and self.n <= self.d:
            self.cols.append(block)
            return
        if self.gram is None:
            held = torch.cat(self.cols, dim=1) if self.cols else block[:, :0]
            self.gram, self.cols = held @ held.T, []
        self.gram += block @ block.T

    def factor(self, rtol: float = 1e-7, max_rank: int = 0) -> tuple[np.ndarray, float]:
        """``(B, tail)``: the factor ``B = U S`` (``d x r``, float32) and dropped energy.

        ``r`` is the numerical rank, at most ``max_rank`` when it is positive; ``tail`` is the
        energy of the columns the cap dropped.
        """
        if self.gram is None:
            a = torch.cat(self.cols, dim=1) if self.cols else torch.zeros(self.d, 0)
            return representation_factor(a, rtol, max_rank)
        evals, u = torch.linalg.eigh(self.gram)
        order = torch.argsort(evals, descending=True)
        return _cut(u[:, order], evals[order].clamp_min(0.0).sqrt(), rtol, max_rank)


def _cut(
    u: torch.Tensor, s: torch.Tensor, rtol: float, max_rank: int = 0
) -> tuple[np.ndarray, float]:
    top = float(s.max()) if s.numel() else 0.0
    keep = s > rtol * top if top > 0 else s > 0
    u, s = u[:, keep], s[keep]  # s is descending
    tail = 0.0
    if 0 < max_rank < s.numel():
        tail = float(torch.sum(s[max_rank:] ** 2))
        u, s = u[:, :max_rank], s[:max_rank]
    return (u * s).cpu().numpy().astype(np.float32), tail


def representation_factor(
    a: torch.Tensor, rtol: float = 1e-7, max_rank: int = 0
) -> tuple[np.ndarray, float]:
    """``(B, tail)``: ``B = U S`` (``d x r``, float32) of ``A = U S V^T`` (thin SVD).

    ``r`` is the numerical rank (singular values below ``rtol * sigma_max`` are dropped;
    ``B B^T = A A^T`` up to them), capped at ``max_rank`` when it is positive; ``tail`` is
    ``sum s_j^2`` over the columns the cap dropped (0.0 without a cap).
    """
    if a.numel() == 0:
        return np.zeros((a.shape[0], 0), dtype=np.float32), 0.0
    u, s, _ = torch.linalg.svd(a.double(), full_matrices=False)
    return _cut(u, s, rtol, max_rank)


def task_representation(
    model: nn.Module,
    x: np.ndarray,
    layers: Mapping[str, tuple[str, int]],
    *,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    chunk: int = 16,
    max_rank: int = 0,
) -> dict[str, np.ndarray]:
    """Every projected layer's factor ``B`` (``B B^T = A A^T``) of its inputs on ``x``.

    With ``max_rank > 0`` a layer whose factor has more columns sends its top ``max_rank``
    and, under ``<layer>::tail-energy`` (:data:`fedsim.wire.FOT_TAIL`), the dropped energy as
    a one-element float64 array (only for layers that were cut).

    The model runs in eval mode (dropout off, BatchNorm running statistics) with forward
    pre-hooks capturing each layer's input: a Linear's rows (columns of ``A`` = examples,
    leading dims flattened), a Conv2d's unfolded patches (examples x output positions).
    While ``A`` has fewer columns than rows they are kept and factored by a thin SVD, else
    the ``d x d`` Gram matrix ``A A^T`` is accumulated and eigendecomposed (conv layers'
    many patches never sit in memory at once; ``chunk`` examples per forward pass bound
    the unfolded block, e.g. 16 CIFAR images in ResNet-18's first stage: 576 x 16,384).
    """
    modules = dict(model.named_modules())
    reps = {name: _Representation(d) for name, (_, d) in layers.items()}

    def hook_for(name: str, kind: str):
        def hook(module: nn.Module, args: tuple) -> None:
            inp = args[0].detach()
            if kind == CONV:
                patches = functional.unfold(
                    inp, module.kernel_size, dilation=module.dilation,
                    padding=module.padding, stride=module.stride,
                )  # (batch, d, positions)
                reps[name].add(patches.permute(1, 0, 2).reshape(patches.shape[1], -1))
            else:
                reps[name].add(inp.reshape(-1, inp.shape[-1]).T)
        return hook

    handles = [
        modules[name].register_forward_pre_hook(hook_for(name, kind))
        for name, (kind, _) in layers.items()
    ]
    model.eval()
    device = model_device(model)
    try:
        with torch.no_grad():
            for start in range(0, len(x), chunk):
                xb = torch.from_numpy(x[start : start + chunk]).to(device)
                model(transform(xb) if transform is not None else xb)
    finally:
        for handle in handles:
            handle.remove()
    out: dict[str, np.ndarray] = {}
    for name, rep in reps.items():
        out[name], tail = rep.factor(max_rank=max_rank)
        if max_rank > 0 and out[name].shape[1] == max_rank and tail > 0.0:
            out[name + wire.FOT_TAIL] = np.array([tail], dtype=np.float64)
    return out
