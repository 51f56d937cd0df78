"""FedHyper: hypergradient-tuned global and local learning rates, as one LR controller.

Wang, Wang, Li, "FedHyper: A Universal and Robust Learning Rate Scheduler for Federated
Learning with Hypergradient Descent" (ICLR 2024), official code ATP-1010/FedHyper
(``src/federated_main.py`` server branches, ``src/update.py`` client rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flwr.app import Array, ArrayRecord, Message

from fedsim import wire
from fedsim.interfaces import LRController
from strategies.lr.hypergrad import (
    Update,
    apply_global,
    check_bounds,
    check_rate,
    dot,
    global_accumulator,
    momentum_update,
    server_local_lr,
    update_of,
)

GLOBAL_RULES = ("none", "g", "gm")
#: The official code's bounds on ``eta_g = 1 + a_t`` per global rule (``a_t`` in [-0.8, 4] for
#: G, [-0.2, 4] for GM), used when ``server_lr_bounds`` is not given.
DEFAULT_SERVER_LR_BOUNDS = {"none": (0.2, 5.0), "g": (0.2, 5.0), "gm": (0.8, 5.0)}


class FedHyper(LRController):
    """FedHyper-G, -GM, -SL, -CL and FULL as a controller that composes with any strategy.

    Notation: ``Delta_t = aggregated - previous`` is the raw update of round ``t`` as the
    strategy aggregated it (FedAvg's weighted mean for FedAvg/FedProx; the official code uses
    an unweighted mean), computed key by key over the floating arrays both records share.

    * **G** (``global_rule="g"``): ``a_t = clip(a_{t-1} + hyper_lr <Delta_{t-1}, Delta_t>)``,
      ``theta_{t+1} = theta_t + (1 + a_t) Delta_t`` -- the paper's global hypergradient
      update with the code's hyper-LR 1 and ``eta_g = 1 + a_t`` in ``server_lr_bounds``
      (code: ``a_t`` in ``[-0.8, 4]``, i.e. ``eta_g`` in ``[0.2, 5]``). First round: plain
      ``theta_1 = theta_0 + Delta_0``.
    * **GM** (``global_rule="gm"``, the code's recommended default): ``a_t = clip(a_{t-1} +
      hyper_lr <m_{t-1}, Delta_t>)``, ``theta_{t+1} = theta_t + (1 + a_t) Delta_t +
      momentum * a_t * m_{t-1}``, ``m_t = Delta_t + momentum * m_{t-1}``, ``m_0 = Delta_0``;
      bounds ``[0.8, 5]`` on ``eta_g``. The momentum term scaled by ``a_t`` (not ``1 + a_t``)
      is the code's quirk, kept as is.
    * **SL** (``server_local=True``): the *unclipped* accumulator ``s_t = s_{t-1} +
      sl_hyper_lr <Delta_{t-1}, Delta_t>`` sets every client's LR for the **next** round,
      ``eta_l = clip(eta_l0 (1 + s_t), local_lr_bounds * eta_l0)`` (code bounds ``[lr0/10,
      10 lr0]``); the global step stays ``Delta_t`` unless a global rule is chosen too. The
      released code rebuilds ``local_lr`` every round, so SL there equals FedAvg;
      ``code_faithful=True`` reproduces that (LR stays ``eta_l0``, accumulator still logged).
    * **CL** (``client_local=True``): each client adapts its own LR per local step
      (:class:`fedsim.client.plugins.hypergradient.HypergradientLR`). The server sends the
      previous raw update ``Delta_{t-1}`` (an extra model-sized ArrayRecord, key
      ``fedsim.lr-arrays``; nothing in round 1, i.e. zeros as in the code) and the rule's
      constants: ``x_scale = cl_global_scale / m`` with ``m`` the number of replies
      averaged into ``Delta_{t-1}`` (the code divides by the nominal cohort size), ``y_scale
      = cl_local_scale``, ``max_growth`` (1.1) and ``local_lr_bounds`` on ``beta``.
      ``cl_persist=True`` (default) keeps each client's ``beta`` in its client state across
      rounds, as the issue asks; ``False`` resets it to 1 every round as the released code.
    * **FULL** = GM + CL (as in the code: SL is not part of FULL).

    Parameters
    ----------
    lr : float
        Initial client LR ``eta_l0`` (``train.lr``).
    global_rule : str
        ``"none"``, ``"g"`` or ``"gm"``.
    server_local, client_local : bool
        Enable SL / CL.
    hyper_lr : float
        Hyper-learning-rate of the global accumulator (code: 1).
    server_lr_bounds : [float, float], optional
        Bounds of ``eta_g = 1 + a_t`` (must contain 1); default: the code's, ``[0.2, 5]`` for
        G and ``[0.8, 5]`` for GM (:data:`DEFAULT_SERVER_LR_BOUNDS`).
    momentum : float
        GM momentum in ``[0, 1)`` (code: 0.9).
    sl_hyper_lr : float
        Hyper-learning-rate of the SL accumulator (code: 1).
    local_lr_bounds : [float, float]
        Bounds of the client LR as factors of ``eta_l0`` (SL) and of ``beta`` (CL); code
        ``[0.1, 10]``.
    code_faithful : bool
        SL only: reproduce the released code's reset bug (SL is then FedAvg).
    cl_global_scale, cl_local_scale, cl_max_growth : float
        CL constants (code: 0.1 (divided by ``m``), 1, 1.1).
    cl_persist : bool
        Keep the CL factor ``beta`` across rounds in client state.
    buffer_keys : Sequence[str]
        Keys of the global arrays that are model buffers, not parameters (e.g. BatchNorm
        running statistics): left out of every hypergradient and global step, as the code
        uses ``model.parameters()`` only; they keep the strategy's aggregate.
    """

    def __init__(
        self,
        lr: float,
        *,
        global_rule: str = "none",
        server_local: bool = False,
        client_local: bool = False,
        hyper_lr: float = 1.0,
        server_lr_bounds: Sequence[float] | None = None,
        momentum: float = 0.9,
        sl_hyper_lr: float = 1.0,
        local_lr_bounds: Sequence[float] = (0.1, 10.0),
        code_faithful: bool = False,
        cl_global_scale: float = 0.1,
        cl_local_scale: float = 1.0,
        cl_max_growth: float = 1.1,
        cl_persist: bool = True,
        buffer_keys: Sequence[str] = (),
    ) -> None:
        if global_rule not in GLOBAL_RULES:
            raise ValueError(
                f"global_rule: unknown value '{global_rule}', allowed: {', '.join(GLOBAL_RULES)}"
            )
        self.lr0 = check_rate("lr", lr)
        self.global_rule = global_rule
        self.server_local = bool(server_local)
        self.client_local = bool(client_local)
        self.hyper_lr = check_rate("hyper_lr", hyper_lr, allow_zero=True)
        if server_lr_bounds is None:
            server_lr_bounds = DEFAULT_SERVER_LR_BOUNDS[global_rule]
        self.server_bounds = check_bounds("server_lr_bounds", server_lr_bounds)
        self.buffer_keys = frozenset(str(k) for k in buffer_keys)
        self.momentum = check_rate("momentum", momentum, allow_zero=True)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.sl_hyper_lr = check_rate("sl_hyper_lr", sl_hyper_lr, allow_zero=True)
        self.local_bounds = check_bounds("local_lr_bounds", local_lr_bounds)
        self.code_faithful = bool(code_faithful)
        self.cl_global_scale = check_rate("cl_global_scale", cl_global_scale, allow_zero=True)
        self.cl_local_scale = check_rate("cl_local_scale", cl_local_scale, allow_zero=True)
        self.cl_max_growth = check_rate("cl_max_growth", cl_max_growth)
        self.cl_persist = bool(cl_persist)
        # evolving state (all of it in state_dict)
        self.a = 0.0  # global accumulator, eta_g = 1 + a
        self.sl_acc = 0.0  # unclipped SL accumulator
        self.client_lr = self.lr0  # LR the next round's clients start from
        self.last_delta: Update | None = None
        self.velocity: Update | None = None  # GM momentum m_{t-1}
        self.last_m = 1  # replies averaged into last_delta
        self.sent_lr = self.lr0
        self.applied_server_lr = 1.0
        self.client_lr_mean = self.lr0

    # -- round hooks --------------------------------------------------------------------
    def client_config(self, server_round: int) -> dict[str, float | int | str | bool]:
        """Send the round's client LR (SL-scheduled or ``eta_l0``) and, with CL, its constants."""
        self.sent_lr = self.client_lr
        items: dict[str, float | int | str | bool] = {wire.LR: float(self.client_lr)}
        if self.client_local:
            low, high = self.local_bounds
            items.update({
                wire.HYPER_CL: True,
                wire.HYPER_CL_X_SCALE: self.cl_global_scale / max(self.last_m, 1),
                wire.HYPER_CL_Y_SCALE: self.cl_local_scale,
                wire.HYPER_CL_MAX_GROWTH: self.cl_max_growth,
                wire.HYPER_CL_BOUNDS: [float(low), float(high)],
                wire.HYPER_CL_PERSIST: self.cl_persist,
            })
        return items

    def client_arrays(self, server_round: int) -> ArrayRecord | None:
        """With CL, the previous raw global update ``Delta_{t-1}`` (float32) for every client."""
        if not self.client_local or self.last_delta is None:
            return None
        return ArrayRecord({k: Array(v.astype(np.float32)) for k, v in self.last_delta.items()})

    def server_step(
        self,
        server_round: int,
        previous: ArrayRecord,
        aggregated: ArrayRecord,
        replies: Sequence[Message],
    ) -> ArrayRecord:
        """Apply the global rule to ``Delta_t``; update the SL schedule; remember ``Delta_t``."""
        delta = update_of(previous, aggregated, self.buffer_keys)
        self.client_lr_mean = _mean_final_lr(replies, self.sent_lr) if self.client_local \
            else self.sent_lr
        new = aggregated
        self.applied_server_lr = 1.0
        low, high = self.server_bounds
        if self.last_delta is None:  # round 0 of the code: plain FedAvg step, m_0 = Delta_0
            if self.global_rule == "gm":
                self.velocity = {k: v.copy() for k, v in delta.items()}
        else:
            if self.global_rule == "g":
                self.a = global_accumulator(self.a, self.last_delta, delta,
                                            hyper_lr=self.hyper_lr, low=low - 1, high=high - 1)
                new = apply_global(previous, aggregated, delta, 1.0 + self.a)
            elif self.global_rule == "gm":
                vel = self.velocity or {}
                self.a = global_accumulator(self.a, vel, delta,
                                            hyper_lr=self.hyper_lr, low=low - 1, high=high - 1)
                extra = {k: self.momentum * self.a * v for k, v in vel.items() if k in delta}
                new = apply_global(previous, aggregated, delta, 1.0 + self.a, extra)
                self.velocity = momentum_update(vel, delta, self.momentum)
            if self.global_rule != "none":
                self.applied_server_lr = 1.0 + self.a
            if self.server_local:
                self.sl_acc += self.sl_hyper_lr * dot(self.last_delta, delta)
                if not self.code_faithful:
                    self.client_lr = server_local_lr(self.lr0, self.sl_acc, *self.local_bounds)
        self.last_delta = delta
        self.last_m = max(len(replies), 1)
        return new

    def scalars(self) -> dict[str, float]:
        """Server LR applied this round, mean client LR (CL: clients' final LRs), accumulators."""
        out = {
            "lr/server": float(self.applied_server_lr),
            "lr/client_mean": float(self.client_lr_mean),
            "lr/client_sent": float(self.sent_lr),
            "lr/hyper_a": float(self.a),
        }
        if self.server_local:
            out["lr/sl_accumulator"] = float(self.sl_acc)
            out["lr/client_next"] = float(self.client_lr)
        return out

    # -- checkpointing ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything that evolves, copied (numpy arrays for the updates)."""
        return {
            "a": self.a,
            "sl_acc": self.sl_acc,
            "client_lr": self.client_lr,
            "last_delta": _copy(self.last_delta),
            "velocity": _copy(self.velocity),
            "last_m": self.last_m,
            "sent_lr": self.sent_lr,
            "applied_server_lr": self.applied_server_lr,
            "client_lr_mean": self.client_lr_mean,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` exactly (an empty dict keeps the fresh state)."""
        if not state:
            return
        self.a = float(state["a"])
        self.sl_acc = float(state["sl_acc"])
        self.client_lr = float(state["client_lr"])
        self.last_delta = _copy(state["last_delta"])
        self.velocity = _copy(state["velocity"])
        self.last_m = int(state["last_m"])
        self.sent_lr = float(state["sent_lr"])
        self.applied_server_lr = float(state["applied_server_lr"])
        self.client_lr_mean = float(state["client_lr_mean"])


def _copy(update: Update | None) -> Update | None:
    return None if update is None else {k: np.array(v, copy=True) for k, v in update.items()}


def _mean_final_lr(replies: Sequence[Message], default: float) -> float:
    values = []
    for reply in replies:
        metrics = reply.content.metric_records.get(wire.METRICS)
        if metrics is not None and wire.FINAL_LR in metrics:
            values.append(float(metrics[wire.FINAL_LR]))
    return float(np.mean(values)) if values else float(default)
