"""FedProto: clients share only class prototypes; personal (possibly different) models."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from fedsim.interfaces import StrategyHooks
from fedsim.logging.prototypes import log_bank, log_distance
from strategies.prototypes import (
    bank_from_arrays,
    bank_size,
    bank_to_arrays,
    check_prototype_reply,
    contribution_from_arrays,
    empty_bank,
    mean_over_clients,
    weighted_train_loss,
)

INFERENCES = ("prototype", "head")


class FedProto(FedAvg, StrategyHooks):
    """Global prototypes = (count-weighted) mean of client prototypes; weights never travel.

    Tan, Long, Liu, Zhou, Lu, Jiang, Zhang, "FedProto: Federated Prototype Learning across
    Heterogeneous Clients" (AAAI 2022). Server, Eq. (6): ``C-bar^j = sum_i |D_ij| C_i^j /
    sum_i |D_ij|`` over the clients holding class ``j`` (``weighted=True``; the official
    ``proto_aggregation`` takes the plain mean over clients, ``weighted=False``). Client, Eq.
    (7)-(8): cross-entropy + ``lam`` x the per-sample MSE between the embedding and the global
    prototype of its label, as in the official ``update_weights_het``
    (:class:`~fedsim.client.plugins.prototype_loss.PrototypeLoss`); local prototypes are the mean
    embeddings of the client's current task data after local training (the official code
    averages train-mode embeddings of the last epoch - a documented deviation). Inference:
    nearest global prototype over every class the federation knows (``inference="prototype"``,
    the paper's rule) or the client's own head (``"head"``; with ``lam=0`` that is local-only
    training; prototypes are then not even sent).

    Each client's model lives in its own state and never travels, so models may differ:
    ``client_models`` lists model-config overrides, client ``c`` takes entry
    ``c % len(client_models)``; all must share the embedding dimension. A class nobody
    contributed in a round keeps its previous global prototype (with partial participation or
    class-incremental streams the official "all clients, every round" assumption fails).
    FedProto has no global model, so the central view is undefined (NaN, not logged): use
    the client view (boundary evaluations, summary ``final``).

    Parameters
    ----------
    lam : float
        Weight of the prototype distance term (the official ``--ld``; 1 on MNIST).
    weighted : bool
        Count-weighted global mean (the paper) or the official code's plain mean.
    inference : str
        ``"prototype"`` or ``"head"``.
    client_models : list of dict, optional
        Per-client model overrides (heterogeneous federation), e.g. ``[{hidden: [64]},
        {hidden: [256, 64]}]`` for the MLP.
    projection_every : int
        Write the PCA image of the bank every this many rounds (and after the last round).
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(
        self,
        *,
        lam: float = 1.0,
        weighted: bool = True,
        inference: str = "prototype",
        client_models: Sequence[Mapping] | None = None,
        projection_every: int = 5,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not float(lam) >= 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        if inference not in INFERENCES:
            raise ValueError(f"inference must be one of {', '.join(INFERENCES)}; got '{inference}'")
        if int(projection_every) < 1:
            raise ValueError(f"projection_every must be >= 1, got {projection_every}")
        models = list(client_models or [])
        if not all(isinstance(m, Mapping) for m in models):
            raise ValueError("client_models must be a list of model-config mappings")
        self.lam = float(lam)
        self.weighted = bool(weighted)
        self.inference = inference
        self.client_models = [dict(m) for m in models]
        self.projection_every = int(projection_every)
        self.num_classes, self.dim, self.last_round = 0, 0, 0
        self._current: ArrayRecord | None = None
        self._sink = None

    # -- hooks called by fedsim's server and round loop --------------------------------
    def initial_arrays(self, exp, arrays: ArrayRecord) -> ArrayRecord:
        """Global arrays of round 0: an empty bank only (no global model)."""
        from fedsim.errors import ConfigError

        self.num_classes = int(exp.data.num_classes)
        self.dim = int(exp.make_model().embedding_dim)
        self.last_round = int(exp.num_rounds)
        for i, override in enumerate(self.client_models):
            try:
                dim = int(exp.make_model({**exp.cfg["model"], **override}).embedding_dim)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"strategy.client_models[{i}]", str(exc)) from None
            if dim != self.dim:
                raise ConfigError(
                    f"strategy.client_models[{i}]",
                    f"embedding dim {dim} differs from the model's {self.dim}; "
                    "prototypes of all clients must share it",
                )
        return bank_to_arrays(*empty_bank(self.num_classes, self.dim))

    def set_sink(self, sink) -> None:
        """Receive the run's TensorBoard sink (bank size and projection images)."""
        self._sink = sink

    def reference_arrays(self, global_arrays: ArrayRecord) -> None:
        """Skip the generic same-keys check; :meth:`check_reply` knows the reply layout."""
        return None

    def check_reply(self, reply: Message) -> str | None:
        """Reject malformed contributions, and any reply that carries weights."""
        return check_prototype_reply(reply, self.num_classes, self.dim, None)

    def central_accuracies(self, exp, arrays: ArrayRecord) -> np.ndarray:
        """No global model: the central view is undefined (NaN per task)."""
        return np.full(len(exp.plan.tasks), np.nan)

    # -- Flower strategy hooks ---------------------------------------------------------
    @property
    def _isolated(self) -> bool:
        """Local-only training: nothing from the federation is used, so nothing is sent."""
        return self.lam == 0.0 and self.inference == "head"

    def _client_items(self) -> dict:
        return {
            wire.PROTO_MODEL: "personal",
            wire.PROTO_TRAIN: True,
            wire.PROTO_SEND_WEIGHTS: False,
            wire.PROTO_SEND: "never" if self._isolated else "every-round",
            wire.PROTO_LAMBDA: self.lam,
            wire.PROTO_INFERENCE: self.inference,
            wire.PROTO_MODELS: json.dumps(self.client_models),
        }

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Send the global prototypes (never weights) and the local-loss settings."""
        self._current = arrays
        for key, value in self._client_items().items():
            config[key] = value
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Average this round's client prototypes per class; keep the rest of the bank."""
        replies = list(replies)
        if not replies or self._current is None:
            return None, None
        old_means, old_counts = bank_from_arrays(self._current)
        contributions = [contribution_from_arrays(r.content[wire.ARRAYS]) for r in replies]
        means, counts = mean_over_clients(
            self.num_classes, self.dim, contributions, weighted=self.weighted
        )
        fresh = counts > 0
        means = np.where(fresh[:, None], means, old_means)
        counts = np.where(fresh, counts, old_counts)
        image = server_round % self.projection_every == 0 or server_round == self.last_round
        log_bank(self._sink, server_round, means, counts, image=image)
        distances = [
            float(r.content[wire.METRICS].get(wire.PROTO_DISTANCE, np.nan)) for r in replies
        ]
        finite = [d for d in distances if np.isfinite(d)]
        log_distance(self._sink, server_round, float(np.mean(finite)) if finite else np.nan)
        metrics = MetricRecord(
            {
                wire.TRAIN_LOSS: weighted_train_loss(replies),
                wire.PROTO_BANK_SIZE: bank_size(counts),
            }
        )
        return bank_to_arrays(means, counts), metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Clients score their personal model with the global prototypes (or their head)."""
        for key, value in self._client_items().items():
            config[key] = value
        return super().configure_evaluate(server_round, arrays, config, grid)
