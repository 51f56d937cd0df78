"""FedHyper-CL: the client-side hypergradient learning rate, as a plugin of the local loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from flwr.app import ArrayRecord
from torch import nn

from fedsim import wire
from fedsim.client.training_loop import StepInfo
from fedsim.interfaces import BasePlugin
from strategies.lr.hypergrad import client_beta


class HypergradientLR(BasePlugin):
    """Adapt the local LR after every optimizer step from successive local updates.

    Wang, Wang, Li, "FedHyper" (ICLR 2024), client-side local scheduler (FedHyper-CL), as in
    the official ``LocalUpdate.update_weights``: with ``u_i = w_i - w_{i-1}`` the parameter
    change of step ``i`` and ``Delta_{t-1}`` the previous round's global update,

    ``x_i = x_scale <u_i, Delta_{t-1}>``, ``y_i = y_scale <u_i, u_{i-1}>``,
    ``gamma_i = min(max_growth, 1 + x_i + y_i)``, ``beta_i = clip(gamma_i beta_{i-1}, low,
    high)``, and the next step runs at ``eta_l0 * beta_i``.

    Code details kept: the first batch of every local epoch is not adapted and does not move
    the ``u_{i-1}`` pointer; ``u_{i-1}`` starts as ``Delta_{t-1}``; ``Delta_{t-1}`` is zero in
    the first round; ``gamma`` has no lower bound; dot products are unnormalised, over the
    trainable parameters (no buffers). Computed in float64.

    Parameters
    ----------
    model : torch.nn.Module
        The model right after loading the global weights.
    lr0 : float
        The round's base LR ``eta_l0`` (from the server).
    global_update : Mapping[str, numpy.ndarray or torch.Tensor], optional
        ``Delta_{t-1}`` by state-dict name; missing names (or None) count as zeros.
    x_scale, y_scale, max_growth : float
        Rule constants (code: ``0.1 / m``, 1, 1.1).
    low, high : float
        Bounds of ``beta`` (code: 0.1, 10).
    beta0 : float
        Starting factor (1, or the persisted value from client state).
    """

    def __init__(
        self,
        model: nn.Module,
        lr0: float,
        global_update: Mapping[str, Any] | None,
        *,
        x_scale: float,
        y_scale: float,
        max_growth: float,
        low: float,
        high: float,
        beta0: float = 1.0,
    ) -> None:
        self.lr0 = float(lr0)
        self.x_scale, self.y_scale = float(x_scale), float(y_scale)
        self.max_growth = float(max_growth)
        self.low, self.high = float(low), float(high)
        self.beta = min(max(float(beta0), self.low), self.high)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self._prev = [p.detach().to(torch.float64).clone() for _, p in named]
        self._global = [_as_tensor(global_update, n, p) for n, p in named]
        self._u_prev = [g.clone() for g in self._global]
        self._epoch = -1
        self.adapted_steps = 0

    def initial_lr(self) -> float:
        """The LR of the round's first step: ``eta_l0 * beta0``."""
        return self.lr0 * self.beta

    def next_lr(self, model: nn.Module, info: StepInfo) -> float | None:
        """Return ``eta_l0 * beta_i`` for the next step (None on an epoch's first batch)."""
        params = [p for p in model.parameters() if p.requires_grad]
        now = [p.detach().to(torch.float64).clone() for p in params]
        u = [a - b for a, b in zip(now, self._prev, strict=True)]
        self._prev = now
        if info.epoch != self._epoch:  # the code's `xxx` flag: skip the epoch's first batch
            self._epoch = info.epoch
            return None
        x = self.x_scale * _dot(u, self._global)
        y = self.y_scale * _dot(u, self._u_prev)
        self.beta = client_beta(
            self.beta, x, y, max_growth=self.max_growth, low=self.low, high=self.high
        )
        self._u_prev = u
        self.adapted_steps += 1
        return self.lr0 * self.beta

    def metrics(self) -> dict[str, float]:
        """Report the final factor ``beta``."""
        return {wire.HYPER_CL_BETA: float(self.beta)}

    def state_items(self) -> dict[str, float]:
        """Client-state items to keep for the next round."""
        return {wire.HYPER_CL_BETA: float(self.beta)}


def hypergradient_plugin(
    model: nn.Module,
    config: Mapping[str, Any],
    state_config: Mapping[str, Any],
    shared: Mapping[str, ArrayRecord],
) -> HypergradientLR | None:
    """Build the plugin from the round's config items, or None when FedHyper-CL is off.

    ``shared`` holds the records the server attached to the message (``fedsim.lr-arrays`` =
    ``Delta_{t-1}``); ``state_config`` the client's persisted items (``beta`` when the
    controller asks to persist it).
    """
    if not bool(config.get(wire.HYPER_CL, False)):
        return None
    low, high = (float(v) for v in config[wire.HYPER_CL_BOUNDS])
    persist = bool(config.get(wire.HYPER_CL_PERSIST, True))
    beta0 = float(state_config.get(wire.HYPER_CL_BETA, 1.0)) if persist else 1.0
    delta = shared.get(wire.LR_ARRAYS)
    update = None if delta is None else {k: a.numpy() for k, a in delta.items()}
    return HypergradientLR(
        model,
        float(config[wire.LR]),
        update,
        x_scale=float(config[wire.HYPER_CL_X_SCALE]),
        y_scale=float(config[wire.HYPER_CL_Y_SCALE]),
        max_growth=float(config[wire.HYPER_CL_MAX_GROWTH]),
        low=low,
        high=high,
        beta0=beta0,
    )


def _as_tensor(update: Mapping[str, Any] | None, name: str, like: torch.Tensor) -> torch.Tensor:
    if update is None or name not in update:
        return torch.zeros(like.shape, dtype=torch.float64, device=like.device)
    value = torch.as_tensor(update[name], dtype=torch.float64, device=like.device)
    if tuple(value.shape) != tuple(like.shape):
        raise ValueError(
            f"'{wire.LR_ARRAYS}.{name}' has shape {tuple(value.shape)}, "
            f"expected {tuple(like.shape)}"
        )
    return value.clone()


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return float(sum(float((x * y).sum()) for x, y in zip(a, b, strict=True)))
