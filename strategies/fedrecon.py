"""Federated Reconnaissance: count-weighted online averaging of class prototypes."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from fedsim.interfaces import StrategyHooks
from fedsim.logging.prototypes import log_bank
from fedsim.transport.weighted_mean import aggregate_arrayrecords
from strategies.prototypes import (
    bank_from_arrays,
    bank_size,
    check_prototype_reply,
    classifier_for,
    contribution_from_arrays,
    empty_bank,
    merge_code_faithful,
    merge_online,
    weighted_train_loss,
    with_bank,
    without_bank,
)

MERGES = {"online": merge_online, "code": merge_code_faithful}


class FederatedReconnaissance(FedAvg, StrategyHooks):
    """Prototype bank merged by count-weighted online averaging; optional FedAvg of the net.

    Hendryx, KC, Walls, Morrison, "Federated Reconnaissance: Efficient, Distributed,
    Class-Incremental Learning" (NeurIPS 2021 workshop). Clients embed the data of their
    current task with the shared embedding network and send, per class ``c``, the mean
    embedding ``m_{c,k}`` and count ``n_k``; the server merges by online averaging,
    ``p_c <- (N_c p_c + sum_k n_k m_{c,k}) / (N_c + sum_k n_k)``, ``N_c <- N_c + sum_k n_k``
    (the paper's rule; no gradient step, no hyper-parameter at merge time), over the union of
    the clients' classes. Every client and the server classify by the nearest prototype
    (squared Euclidean). ``merge="code"`` reproduces ``FederatedProtoNet.merge_models`` of the
    official code, whose re-merge of a class the server already holds is biased.

    The paper's encoder is pre-trained on base classes and then frozen. Here the embedding
    network is trained with FedAvg (cross-entropy through its linear head) during the first
    ``base_rounds`` rounds - the base phase, no prototypes - and frozen afterwards
    (``freeze=True``), or trained with FedAvg throughout (``freeze=False``; prototypes computed
    under older weights then go stale). Each client contributes each task slot's data exactly
    once: whenever it trains after the base phase it sends the class means of every slot it
    has started and not yet contributed, so slots that ended during the base phase reach the
    bank under the frozen network (the official code likewise stores base-class prototypes)
    and repeated rounds on the same data never count twice. Before any class has a
    prototype, clients and the server classify with the network's head.

    Global arrays: the network's weights plus the dense bank ``proto.means [C, d]`` and
    ``proto.counts [C]`` (sent down every round, as the official code sends the whole model).
    Replies: the sparse contribution ``proto.classes/means/counts``, plus the weights in
    rounds where the network trains.

    Parameters
    ----------
    base_rounds : int
        Rounds of FedAvg training before prototypes are collected (0: frozen from the start).
    freeze : bool
        Freeze the network after the base phase (the paper) or keep training it with FedAvg.
    merge : str
        ``"online"`` (exact count-weighted mean, the paper) or ``"code"`` (official code).
    projection_every : int
        Write the PCA image of the bank every this many rounds (and after the last round).
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(
        self,
        *,
        base_rounds: int = 3,
        freeze: bool = True,
        merge: str = "online",
        projection_every: int = 5,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if int(base_rounds) < 0:
            raise ValueError(f"base_rounds must be >= 0, got {base_rounds}")
        if merge not in MERGES:
            raise ValueError(f"merge must be one of {', '.join(MERGES)}; got '{merge}'")
        if int(projection_every) < 1:
            raise ValueError(f"projection_every must be >= 1, got {projection_every}")
        self.base_rounds = int(base_rounds)
        self.freeze = bool(freeze)
        self.merge = merge
        self.projection_every = int(projection_every)
        self.num_classes, self.dim, self.last_round = 0, 0, 0
        self._current: ArrayRecord | None = None
        self._round = 0
        self._sink = None

    # -- hooks called by fedsim's server and round loop --------------------------------
    def initial_arrays(self, exp, arrays: ArrayRecord) -> ArrayRecord:
        """Global arrays of round 0: the initial network plus an empty bank."""
        self.num_classes = int(exp.data.num_classes)
        self.dim = int(exp.make_model().embedding_dim)
        self.last_round = int(exp.num_rounds)
        return with_bank(without_bank(arrays), *empty_bank(self.num_classes, self.dim))

    def set_sink(self, sink) -> None:
        """Receive the run's TensorBoard sink (bank size and projection images)."""
        self._sink = sink

    def reference_arrays(self, global_arrays: ArrayRecord) -> None:
        """Skip the generic same-keys check; :meth:`check_reply` knows the reply layout."""
        return None

    def check_reply(self, reply: Message) -> str | None:
        """Reject malformed contributions (wrong dim, bad labels) or wrong weights."""
        ref = without_bank(self._current) if self._trains(self._round) else None
        return check_prototype_reply(reply, self.num_classes, self.dim, ref)

    def central_accuracies(self, exp, arrays: ArrayRecord) -> np.ndarray:
        """Nearest-prototype accuracy of the global network and bank on every task."""
        model = exp.make_model()
        model.load_state_dict(without_bank(arrays).to_torch_state_dict())
        return exp.task_accuracies(classifier_for(model, arrays, {}))

    # -- Flower strategy hooks ---------------------------------------------------------
    def _trains(self, server_round: int) -> bool:
        return server_round <= self.base_rounds or not self.freeze

    def _client_items(self, server_round: int) -> dict:
        trains = self._trains(server_round)
        return {
            wire.PROTO_MODEL: "global",
            wire.PROTO_TRAIN: trains,
            wire.PROTO_SEND_WEIGHTS: trains,
            wire.PROTO_SEND: "once-per-slot" if server_round > self.base_rounds else "never",
            wire.PROTO_LAMBDA: 0.0,
            wire.PROTO_INFERENCE: "prototype",
        }

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Send the network and the bank; tell clients whether to train and contribute."""
        self._round, self._current = server_round, arrays
        for key, value in self._client_items(server_round).items():
            config[key] = value
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """FedAvg the weights (when training) and merge the contributions into the bank."""
        replies = list(replies)
        if not replies or self._current is None:
            return None, None
        weights = without_bank(self._current)
        if self._trains(server_round):
            records = [
                RecordDict(
                    {
                        wire.ARRAYS: without_bank(r.content[wire.ARRAYS]),
                        wire.METRICS: r.content[wire.METRICS],
                    }
                )
                for r in replies
            ]
            weights = aggregate_arrayrecords(records, self.weighted_by_key)
        means, counts = bank_from_arrays(self._current)
        contributions = [contribution_from_arrays(r.content[wire.ARRAYS]) for r in replies]
        means, counts = MERGES[self.merge](means, counts, contributions)
        image = server_round % self.projection_every == 0 or server_round == self.last_round
        log_bank(self._sink, server_round, means, counts, image=image)
        metrics = MetricRecord(
            {
                wire.TRAIN_LOSS: weighted_train_loss(replies),
                wire.PROTO_BANK_SIZE: bank_size(counts),
            }
        )
        return with_bank(weights, means, counts), metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Clients score the global network with nearest-prototype classification."""
        for key, value in self._client_items(server_round).items():
            config[key] = value
        return super().configure_evaluate(server_round, arrays, config, grid)
