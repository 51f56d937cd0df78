"""FedEWC: FedAvg whose clients add a Fisher-weighted penalty (elastic weight consolidation)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from strategies.baseline_options import checked_number


class FedEWC(FedAvg):
    """FedAvg + online EWC on every client.

    Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks", PNAS 2017,
    Eq. (3) ``L = L_B + sum_i lambda/2 F_i (theta_i - theta*_i)^2``, in the online form of
    Schwarz et al. (ICML 2018): one running diagonal Fisher ``F <- gamma F + F_new`` and one
    anchor (the parameters at the client's last task end). The server is FedAvg (McMahan et
    al. 2017) and only weights travel; the Fisher and anchor stay in the client's state. The
    client half is :mod:`fedsim.client.plugins.ewc`, hooked up in
    :mod:`fedsim.client.plugins.baselines`.

    Parameters
    ----------
    ewc_lambda : float
        Penalty weight ``lambda >= 0``. The penalty's curvature is ``lambda F``: plain SGD
        with learning rate ``eta`` diverges where ``eta * lambda * F_i > 2`` (with the
        default ``train.lr = 0.1`` and ``F_i`` up to ~1 per task, ``lambda = 5`` is safe for a
        few tasks; lower ``gamma`` for long streams).
    gamma : float
        Decay of the running Fisher, ``>= 0`` (1: every past task's Fisher summed).
    fisher_samples : int
        Examples of the ended task the Fisher is estimated on (0: all of them).
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(
        self,
        *,
        ewc_lambda: float = 5.0,
        gamma: float = 1.0,
        fisher_samples: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ewc_lambda = checked_number("ewc_lambda", ewc_lambda)
        self.gamma = checked_number("gamma", gamma)
        self.fisher_samples = int(checked_number("fisher_samples", fisher_samples, integer=True))

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's messages, with ``fcl.ewc-lambda``, ``fcl.ewc-gamma``, ``fcl.ewc-samples``."""
        config[wire.EWC_LAMBDA] = self.ewc_lambda
        config[wire.EWC_GAMMA] = self.gamma
        config[wire.EWC_SAMPLES] = self.fisher_samples
        return super().configure_train(server_round, arrays, config, grid)
