"""Build the adapted model (frozen backbone + named adapter slots) and move slot tensors.

A *slot* is a set of adapters inside one model: ``"shared"`` (averaged by every client) and
``"task"`` (the adapter of the task being trained or scored). The head, when trained, belongs
to one slot (``head_slot``). A slot's tensors are exchanged under *stripped* keys: the slot
name is removed from the parameter name, so the same tensors fit any slot and any client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from fedsim.adapters.backbone import backbone_state
from fedsim.adapters.bottleneck import add_bottlenecks
from fedsim.adapters.lora import add_lora
from fedsim.adapters.spec import AdapterSpec
from fedsim.experiment import Experiment
from fedsim.seeding import seed_torch, torch_seed_for

HEAD = "head"
_ADAPTER_PART = r"\.(?:lora_A|lora_B|adapters)\.{}\."


def default_targets(model: nn.Module) -> list[str]:
    """Every Linear / Conv2d layer except the head."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear | nn.Conv2d) and not name.startswith(HEAD)
    ]


def build_adapted(
    exp: Experiment,
    spec: AdapterSpec,
    backbone: Mapping[str, Any],
    slots: tuple[str, ...],
    head_slot: str | None,
    init_tag: int = 0,
) -> nn.Module:
    """Return the backbone (loaded, frozen) with one adapter per slot and target layer.

    ``init_tag`` varies the seeded adapter initialisation (e.g. one per bank entry).
    """
    model = exp.make_model()
    model.load_state_dict(backbone_state(exp, backbone))
    if spec.kind == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    for p in model.parameters():
        p.requires_grad_(False)
    targets = list(spec.targets) if spec.targets else default_targets(model)
    names = dict(model.named_modules())
    for t in targets:
        if t not in names:
            raise ValueError(f"strategy.adapter.targets: the model has no module '{t}'")
    seed_torch(torch_seed_for(exp.seed, "adapter-init", init_tag))
    for slot in slots:
        if spec.kind == "lora":
            model = add_lora(model, targets, spec.rank, spec.alpha, slot)
        else:
            add_bottlenecks(model, targets, spec.bottleneck_dim, slot)
    for name, p in model.named_parameters():
        in_slot = any(re.search(_ADAPTER_PART.format(s), name) for s in slots)
        is_head = spec.train_head and head_slot is not None and name.startswith(HEAD + ".")
        p.requires_grad_(bool(in_slot or is_head))
    return model


def slot_params(
    model: nn.Module, spec: AdapterSpec, slot: str, head_slot: str | None
) -> dict[str, torch.Tensor]:
    """Return ``stripped key -> tensor`` of the parameters that make up ``slot``."""
    if spec.kind == "full":
        return dict(model.state_dict())
    pattern = re.compile(_ADAPTER_PART.format(slot))
    out: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        if pattern.search(name):
            out[pattern.sub(lambda m: m.group(0)[: -len(slot) - 1], name)] = p
        elif spec.train_head and slot == head_slot and name.startswith(HEAD + "."):
            out[name] = p
    return out


def slot_state(
    model: nn.Module, spec: AdapterSpec, slot: str, head_slot: str | None
) -> dict[str, np.ndarray]:
    """Return a slot's tensors as numpy arrays (copies)."""
    return {
        k: v.detach().cpu().numpy().copy()
        for k, v in slot_params(model, spec, slot, head_slot).items()
    }


@torch.no_grad()
def load_slot(
    model: nn.Module,
    spec: AdapterSpec,
    slot: str,
    head_slot: str | None,
    state: Mapping[str, np.ndarray],
) -> None:
    """Copy ``state`` (stripped keys) into the slot; the key sets must match exactly."""
    params = slot_params(model, spec, slot, head_slot)
    missing, extra = set(params) - set(state), set(state) - set(params)
    if missing or extra:
        key = sorted(missing or extra)[0]
        what = "lacks" if missing else "has unexpected"
        raise ValueError(f"adapter payload for slot '{slot}' {what} key '{key}'")
    for key, target in params.items():
        value = torch.as_tensor(np.asarray(state[key]))
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(
                f"adapter '{key}' has shape {tuple(value.shape)}, expected {tuple(target.shape)}"
            )
        target.copy_(value)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """Return ``(trainable, total)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
