"""FedLwF: FedAvg whose clients distil from their previous-task model (LwF)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from strategies.baseline_options import checked_number


class FedLwF(FedAvg):
    """FedAvg + Learning without Forgetting on every client.

    Li & Hoiem, "Learning without Forgetting", ECCV 2016 / IEEE TPAMI 2018 (Eq. 2, objective
    ``lambda_o L_old + L_new``), federated as in the FCL literature's FedLwF baseline (e.g.
    Zhang et al., TARGET, ICCV 2023): the server is FedAvg (McMahan et al. 2017) and only
    weights travel; each client keeps the model it received when its task changed and adds
    ``lambda * L_old`` (temperature ``T``) to its local loss. The client half is
    :mod:`fedsim.client.plugins.distillation`, hooked up in
    :mod:`fedsim.client.plugins.baselines`.

    Parameters
    ----------
    lwf_lambda : float
        Weight ``lambda >= 0`` of the distillation term (paper: ``lambda_o = 1``).
    temperature : float
        ``T > 0`` (paper: 2).
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(self, *, lwf_lambda: float = 1.0, temperature: float = 2.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.lwf_lambda = checked_number("lwf_lambda", lwf_lambda)
        self.temperature = checked_number("temperature", temperature, strict=True)

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's messages, with ``fcl.lwf-lambda`` and ``fcl.lwf-temperature``."""
        config[wire.LWF_LAMBDA] = self.lwf_lambda
        config[wire.LWF_TEMPERATURE] = self.temperature
        return super().configure_train(server_round, arrays, config, grid)
