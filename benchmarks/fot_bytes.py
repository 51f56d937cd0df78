"""Bytes a FOT client sends at a task end, per projected layer, from shapes alone (no SVD).

A layer's factor is ``d x r`` float32 with ``r <= min(d, n)``: ``d`` the layer's input dimension
(conv: ``in_channels * kh * kw``), ``n`` the columns of its representation matrix (examples x
output positions), and ``r <= strategy.max_rank`` when a cap is set (plus 8 bytes of dropped
energy per cut layer). The bound is reached when the activations have full rank, which they
have in practice for conv layers (many patches); this prints the bound::

    python -m benchmarks.fot_bytes --model resnet18 --input 3 32 32 --classes 100 \\
        --samples 100 --max-rank 0 64 256
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from fedsim.models.mlp import MLP
from fedsim.models.resnet import ResNet18
from strategies.subspace import CONV, projected_layers


def columns(model: nn.Module, shape: tuple[int, ...], samples: int) -> dict[str, int]:
    """``n`` per projected layer: ``samples`` x the layer's output positions (1 for Linear)."""
    layers = projected_layers(model, head=True)
    modules = dict(model.named_modules())
    positions: dict[str, int] = {}

    def hook_for(name: str):
        def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
            positions[name] = int(out.shape[-1] * out.shape[-2]) if layers[name][0] == CONV else 1
        return hook

    handles = [modules[n].register_forward_hook(hook_for(n)) for n in layers]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return {n: samples * positions[n] for n in layers}


def factor_bytes(model: nn.Module, shape: tuple[int, ...], samples: int, max_rank: int) -> int:
    """The bound on one task end's bytes up for ``model`` (all layers, head included)."""
    layers = projected_layers(model, head=True)
    total = 0
    for name, n in columns(model, shape, samples).items():
        d = layers[name][1]
        r = min(d, n)
        cut = 0 < max_rank < r
        total += 4 * d * (max_rank if cut else r) + (8 if cut else 0)
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["resnet18", "mlp"], default="resnet18")
    p.add_argument("--input", type=int, nargs="+", default=[3, 32, 32])
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--max-rank", type=int, nargs="+", default=[0, 64, 256])
    a = p.parse_args()
    shape = tuple(a.input)
    if a.model == "resnet18":
        model: nn.Module = ResNet18(shape, a.classes)
    else:
        model = MLP(shape, a.classes)
    for k in a.max_rank:
        mb = factor_bytes(model, shape, a.samples, k) / 2**20
        print(f"{a.model} samples={a.samples} max_rank={k}: {mb:.1f} MiB per task end")


if __name__ == "__main__":
    main()
