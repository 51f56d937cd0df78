"""FedAvg + experience replay from a per-client exemplar memory of fixed budget."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from strategies.baseline_options import checked_choice, checked_number


class FedReplay(FedAvg):
    """FedAvg whose clients replay exemplars of their earlier tasks.

    Each client keeps at most ``budget`` exemplars of the tasks it has trained on, chosen by
    ``reservoir`` sampling (Vitter 1985, Algorithm R; Chaudhry et al., "On Tiny Episodic
    Memories in Continual Learning", 2019) or class-balanced ``herding`` (Rebuffi et al.,
    "iCaRL", CVPR 2017, Algorithms 4-5), and adds the loss of a memory batch to every local
    step (experience replay). The server is FedAvg (McMahan et al. 2017): only weights travel;
    the memory (indices into the client's data) stays in the client's state. The client half
    is :mod:`fedsim.client.plugins.replay`, hooked up in :mod:`fedsim.client.plugins.baselines`.

    Parameters
    ----------
    budget : int
        Exemplars per client, ``>= 0`` (0: plain FedAvg).
    selection : str
        ``reservoir`` or ``herding``.
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(self, *, budget: int = 200, selection: str = "reservoir", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.budget = int(checked_number("budget", budget, integer=True))
        self.selection = checked_choice("selection", selection, wire.REPLAY_SELECTIONS)

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's messages, with ``fcl.replay-budget`` and ``fcl.replay-selection``."""
        config[wire.REPLAY_BUDGET] = self.budget
        config[wire.REPLAY_SELECTION] = self.selection
        return super().configure_train(server_round, arrays, config, grid)
