"""DP-SGD in the one local loop: per-example clipping and Gaussian noise on each batch gradient.

Abadi et al. 2016, "Deep Learning with Differential Privacy", Alg. 1: for a batch B,

    g = ( sum_{i in B} g_i * min(1, C / ||g_i||_2)  +  N(0, (z C)^2 I) ) / |B|

with ``g_i`` the gradient of example i's cross-entropy (all trainable parameters flattened),
C the clip norm and z the noise multiplier. Per-example gradients come from ``torch.func``
(``vmap`` over ``grad`` of a ``functional_call``), so the loop keeps its own optimizer and data
order; the plugin returns the privatised gradient through
:meth:`~fedsim.interfaces.LoopPlugin.data_gradients` and the loop adds the gradient of any
data-independent extra term (FedProx's proximal term) on top.

Accounting: every round adds (z, q = B / n, steps) to the client's history, kept in its
state (:mod:`fedsim.privacy.accountant`), so ε composes over all rounds and tasks the client
has trained, across resume, and does not grow in rounds the client sits out. The loop draws
batches by shuffling (fixed size B, without replacement) while the RDP bound assumes Poisson
sampling at rate q, the usual approximation (Opacus and TF-Privacy tutorials do the same;
see docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from fedsim import wire
from fedsim.client.training_loop import StepInfo
from fedsim.interfaces import BasePlugin
from fedsim.privacy import accountant

#: Opacus's guard against a zero norm in the clip factor C / (||g_i|| + eps).
NORM_EPS = 1e-6


def refuse_batch_norm(model: nn.Module) -> None:
    """Raise if ``model`` mixes examples in a batch (BatchNorm): no per-example gradient."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            raise ValueError(
                f"privacy=dp_sgd: the model's '{name}' is a BatchNorm layer, which mixes the "
                "examples of a batch (no per-example gradient); use a model without it"
            )


def clipped_sum(per_example: list[torch.Tensor], clip: float) -> tuple[list[torch.Tensor], int]:
    """Sum of per-example gradients each clipped to L2 norm ``clip``; and how many were clipped.

    ``per_example[j]`` has shape ``[B, *param_j.shape]``; the norm of example i is over all
    parameters flattened together.
    """
    b = per_example[0].shape[0]
    sq = sum(g.reshape(b, -1).pow(2).sum(dim=1) for g in per_example)
    norms = sq.sqrt()
    factor = (clip / (norms + NORM_EPS)).clamp(max=1.0)
    summed = [torch.einsum("i,i...->...", factor, g) for g in per_example]
    return summed, int((norms > clip).sum())


class DpSgd(BasePlugin):
    """Per-example clipped, noised batch gradients (Abadi et al. 2016) with RDP accounting.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained (refused when it has BatchNorm).
    noise_multiplier, clip_norm : float
        z and C.
    num_examples, batch_size : int
        n and B of the round's local data (sampling rate ``q = B / n``).
    delta : float
        δ of the reported ε.
    history : list of GaussianSteps
        The client's accounting history before this round.
    seed : int
        Seed of the noise generator (run seed, round, client).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        noise_multiplier: float,
        clip_norm: float,
        num_examples: int,
        batch_size: int,
        delta: float,
        history: list[accountant.GaussianSteps],
        seed: int,
    ) -> None:
        refuse_batch_norm(model)
        self.z, self.clip, self.delta = float(noise_multiplier), float(clip_norm), float(delta)
        self.rate = min(1.0, batch_size / max(num_examples, 1))
        self.history = list(history)
        self.gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
        self.steps = self.clipped = self.seen = 0

    def data_gradients(self, model: nn.Module, info: StepInfo) -> list[torch.Tensor | None]:
        """The privatised mean cross-entropy gradient of the batch (Abadi et al., Alg. 1)."""
        params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
        buffers = dict(model.named_buffers())
        mask = info.logit_mask

        def example_loss(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor):
            out = functional_call(model, (p, buffers), (x.unsqueeze(0),))
            if mask is not None:
                out = out + mask
            return nn.functional.cross_entropy(out, y.unsqueeze(0))

        per = vmap(grad(example_loss), in_dims=(None, 0, 0), randomness="different")(
            params, info.inputs, info.targets
        )
        summed, clipped = clipped_sum([per[n] for n in params], self.clip)
        b = info.inputs.shape[0]
        out: list[torch.Tensor | None] = []
        for s in summed:
            noise = torch.normal(0.0, self.z * self.clip, s.shape, generator=self.gen,
                                 device=s.device, dtype=s.dtype)  # fmt: skip
            out.append((s + noise) / b)
        self.steps += 1
        self.clipped += clipped
        self.seen += b
        return out

    def history_after(self) -> list[accountant.GaussianSteps]:
        """The client's history with this round's steps added."""
        return accountant.add_steps(
            self.history, accountant.GaussianSteps(self.z, self.rate, self.steps)
        )

    def state_items(self) -> dict[str, Any]:
        """Client-state items: the updated accounting history."""
        return accountant.to_items(self.history_after())

    def metrics(self) -> dict[str, float]:
        """ε so far (this client, δ), the round's clipped share of examples, C and z."""
        return {
            wire.PRIVACY_EPSILON: accountant.epsilon(self.history_after(), self.delta),
            wire.PRIVACY_CLIPPED: self.clipped / max(self.seen, 1),
        }


def dp_sgd_plugin(
    model: nn.Module,
    config: Mapping[str, Any],
    client_state: Mapping[str, Any],
    *,
    num_examples: int,
    batch_size: int,
    seed: int,
) -> DpSgd | None:
    """The DP-SGD plugin when the round config asks for it (``privacy.dp-sgd-sigma``)."""
    if wire.DP_SGD_SIGMA not in config:
        return None
    return DpSgd(
        model,
        noise_multiplier=float(config[wire.DP_SGD_SIGMA]),
        clip_norm=float(config[wire.DP_SGD_CLIP]),
        num_examples=num_examples,
        batch_size=batch_size,
        delta=float(config[wire.PRIVACY_DELTA]),
        history=accountant.from_items(client_state),
        seed=seed,
    )
