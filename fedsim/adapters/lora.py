"""LoRA on Linear / Conv2d layers through ``peft`` (Hu et al., ICLR 2022, Eq. 3).

``h = W0 x + (alpha / r) B A x`` with ``W0`` frozen, ``A`` random and ``B`` zero at start, so
an untrained LoRA leaves the backbone's output unchanged. ``peft``'s
:func:`~peft.inject_adapter_in_model` works on any torch module given ``target_modules``;
several named adapters on the same layers (MTLoRA-style shared + task-specific, Agiza et
al., CVPR 2024) are all made active, so their low-rank updates add up.
"""

from __future__ import annotations

import warnings

from torch import nn


def add_lora(model: nn.Module, targets: list[str], rank: int, alpha: float, slot: str) -> nn.Module:
    """Inject a LoRA adapter named ``slot`` into ``targets``; every adapter present stays active."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*multiple adapters.*")
        model = inject_adapter_in_model(config, model, adapter_name=slot)
    for module in model.modules():
        if isinstance(module, LoraLayer):
            names = sorted(set(module.lora_A.keys()))
            module.set_adapter(names)
    return model
