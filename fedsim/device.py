"""Where tensors live: ``train.device = auto | cpu | cuda`` resolved per process.

* ``cpu``: always the CPU.
* ``cuda``: the first visible CUDA device; refused (one line) where CUDA is missing.
* ``auto``: on a client, the GPU Ray assigned to the actor (``backend.client_gpus > 0``,
  fractions included: several clients share one GPU), else the CPU (outside Ray - a
  SuperNode of the deployment engine - the first of ``CUDA_VISIBLE_DEVICES``, or of every
  GPU); on the driver (central evaluation), the first visible GPU when there is one.

Ray remaps ``CUDA_VISIBLE_DEVICES`` inside an actor to the GPUs it assigned, so the assigned
GPU is always ``cuda:0`` there, whatever its physical id. Models, batches and optimiser state
live on the resolved device during training; everything that leaves the loop (weights,
prototypes, adapters, client state) goes back to the CPU as numpy first.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

# torch is imported inside the functions: the driver validates ``train.device`` (DEVICES) while
# Ray starts, before it pays torch's import (fedsim.cli.main.precheck)
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, *, cuda_available: bool, gpu_ids: Sequence[str | int]) -> str:
    """Return the torch device string for ``train.device = name``.

    Parameters
    ----------
    name : str
        ``auto``, ``cpu`` or ``cuda``.
    cuda_available : bool
        Whether this process can use CUDA (``torch.cuda.is_available()``).
    gpu_ids : Sequence
        GPUs assigned to this process (``ray.get_gpu_ids()`` in a Ray actor); empty: none.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda:0"``.

    Raises
    ------
    ValueError
        Unknown name, or ``cuda`` without CUDA.
    """
    if name not in DEVICES:
        raise ValueError(f"train.device: unknown device '{name}', allowed: {', '.join(DEVICES)}")
    if name == "cpu":
        return "cpu"
    if name == "cuda":
        if not cuda_available:
            raise ValueError(
                "train.device=cuda: CUDA is not available here (CPU-only torch wheel or no GPU); "
                "use train.device=auto or cpu"
            )
        return "cuda:0"
    return "cuda:0" if cuda_available and len(gpu_ids) > 0 else "cpu"


def assigned_gpu_ids() -> list[str]:
    """GPUs assigned to this process: Ray's, in an actor; else ``CUDA_VISIBLE_DEVICES``."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return [str(g) for g in ray.get_gpu_ids()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def train_device_name(cfg: Mapping[str, Any]) -> str:
    """``train.device`` of a resolved config (``auto`` when absent: older configs)."""
    return str(cfg.get("train", {}).get("device", "auto"))


def client_device(cfg: Mapping[str, Any]) -> torch.device:
    """The device a client trains on (see the module docstring)."""
    import torch

    name = train_device_name(cfg)
    if name == "cpu":  # no CUDA probe at all
        return torch.device("cpu")
    return torch.device(
        resolve_device(name, cuda_available=torch.cuda.is_available(), gpu_ids=assigned_gpu_ids())
    )


def driver_device(cfg: Mapping[str, Any]) -> torch.device:
    """The device of the server's central evaluation: a visible GPU unless ``cpu``."""
    import torch

    name = train_device_name(cfg)
    if name == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    ids = list(range(torch.cuda.device_count())) if available else []
    return torch.device(resolve_device(name, cuda_available=available, gpu_ids=ids))


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (CPU for an empty module)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    import torch

    return torch.device("cpu")


def cpu_state_dict(model: nn.Module) -> OrderedDict[str, torch.Tensor]:
    """``model.state_dict()`` with every tensor on the CPU (for the wire and client state)."""
    return OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items())
