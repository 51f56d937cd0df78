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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional

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

    def factor(self, rtol: float = 1e-7) -> np.ndarray:
        """``B = U S`` (``d x r``, float32) with ``B B^T = A A^T``, ``r`` = numerical rank."""
        if self.gram is None:
            a = torch.cat(self.cols, dim=1) if self.cols else torch.zeros(self.d, 0)
            return representation_factor(a, rtol)
        evals, u = torch.linalg.eigh(self.gram)
        order = torch.argsort(evals, descending=True)
        return _cut(u[:, order], evals[order].clamp_min(0.0).sqrt(), rtol)


def _cut(u: torch.Tensor, s: torch.Tensor, rtol: float) -> np.ndarray:
    top = float(s.max()) if s.numel() else 0.0
    keep = s > rtol * top if top > 0 else s > 0
    return (u[:, keep] * s[keep]).cpu().numpy().astype(np.float32)


def representation_factor(a: torch.Tensor, rtol: float = 1e-7) -> np.ndarray:
    """``B = U S`` (``d x r``, float32) of ``A = U S V^T`` (thin SVD), ``r`` = numerical rank.

    Singular values below ``rtol * sigma_max`` are dropped; ``B B^T = A A^T`` up to them.
    """
    if a.numel() == 0:
        return np.zeros((a.shape[0], 0), dtype=np.float32)
    u, s, _ = torch.linalg.svd(a.double(), full_matrices=False)
    return _cut(u, s, rtol)


def task_representation(
    model: nn.Module,
    x: np.ndarray,
    layers: Mapping[str, tuple[str, int]],
    *,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    chunk: int = 16,
) -> dict[str, np.ndarray]:
    """Every projected layer's factor ``B`` (``B B^T = A A^T``) of its inputs on ``x``.

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
    return {name: rep.factor() for name, rep in reps.items()}
