"""FOT: FedAvg whose aggregated update is projected away from the old tasks' input subspaces."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedsim import wire
from fedsim.errors import ConfigError
from fedsim.experiment import Experiment
from fedsim.interfaces import StrategyHooks
from fedsim.logging.tags import tag
from strategies.baseline_options import checked_choice, checked_number
from strategies.subspace import extend_basis, project_update, projected_layers

if TYPE_CHECKING:
    from fedsim.logging.tensorboard import TensorBoardSink

HEAD_CHOICES = ("auto", "true", "false")


class FOT(FedAvg, StrategyHooks):
    """Federated Orthogonal Training (Bakman et al., ICLR 2024): GPSE + FedProject on FedAvg.

    **GPSE** (paper Sec. 4, "global principal subspace extraction"). For every projected
    layer ``l`` (each ``nn.Linear`` / ``nn.Conv2d``; the head only in single-head streams,
    see ``project_head``) the server keeps an orthonormal basis ``U_l`` (``d_l x k_l``) of the
    old tasks' input space. Clients whose task ended send the factor ``B_i`` of their
    representation matrix ``A_i`` (``B_i B_i^T = A_i A_i^T``,
    :mod:`fedsim.client.plugins.orthogonal`); the server stacks ``B = [B_1 ... B_N]``, takes
    the residual ``R = B - U U^T B`` and its SVD ``R = Û Ŝ V̂^T``, and appends the smallest
    number ``k`` of left singular vectors with

        ||U U^T B||_F^2 + sum_{j<=k} ŝ_j^2  >=  eps * ||B||_F^2

    (GPM's energy criterion, Saha et al. ICLR 2021 Sec. 4, which FOT's GPSE adopts), then
    re-orthonormalises (QR). ``eps`` is ``threshold`` and grows by ``threshold_step`` after
    every extension (the official code's ``epsilon`` 0.98 and ``eps_inc`` 0 are the defaults).

    **FedProject** (paper Sec. 4): after FedAvg's weighted mean ``W_agg`` (McMahan et al.
    2017), each projected layer's update is ``Delta = W_agg - W_prev``,
    ``Delta <- Delta - Delta U U^T`` (conv kernels flattened ``out x (in kh kw)`` in
    ``nn.Unfold`` order), ``W_new = W_prev + Delta``. Biases and normalisation parameters are
    averaged as FedAvg does, unprojected, as in the official code (which projects only the
    listed weights).

    **When the subspace grows** (fedsim streams are heterogeneous). A client's task ends
    when it trains on a stream position other than the one it last trained on (the FCL
    baselines' rule, :mod:`fedsim.client.plugins.baselines`). In that round it represents the
    ended task's training data (a seeded sample of ``samples`` examples) with the model it
    has just received - the federation's model at the end of that task - and sends the
    factors with its update. The server extends the bases with the round's factors *before*
    projecting that round's aggregate, so the first update of every client's new task is
    already orthogonal to what the ended task used. (The official code, whose clients all
    switch tasks together, collects the activations in a task's last round with the local
    models and extends after that round's aggregation; fedsim's rule does not depend on a
    client being selected in its task's last round.) With per-client task orders the
    subspace is the federation's learned input space, not one task's: a client that meets a
    task later than others learns it only in the remaining directions.

    Parameters
    ----------
    threshold : float
        Energy threshold ``eps`` in ``(0, 1]`` (official default 0.98).
    threshold_step : float
        Added to ``eps`` after each extension, capped at 1 (official ``eps_inc``, default 0).
    samples : int
        Examples of the ended task each client represents (0: all of them; default 100,
        GPM's order of magnitude; the official code uses all of a client's task data).
    project_head : str
        ``auto`` (default): the head is projected in class- and domain-incremental runs
        (one shared head, like the official MNIST MLP whose output layer is projected) and
        left free in task-incremental runs (per-task heads, as in the official multi-head
        models whose heads are not projected); ``true`` / ``false`` force it.
    proximal_mu : float
        FedProx's proximal term on the clients (Li et al. 2020), ``>= 0`` (0: off): FOT's
        server half composes with FedProx's client half.
    max_rank : int
        Columns of a layer's factor a client sends at most (0: all, the numerical rank). A
        capped client sends its top ``max_rank`` directions ``U_k S_k`` (the best rank-k
        approximation of ``A_i A_i^T``) and the energy it dropped, which still counts in the
        energy criterion's total (:func:`strategies.subspace.extend_basis`). Bounds the bytes
        up of a task end at ``4 * max_rank * sum_l d_l``.
    **kwargs
        Flower ``FedAvg`` arguments.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.98,
        threshold_step: float = 0.0,
        samples: int = 100,
        project_head: str = "auto",
        proximal_mu: float = 0.0,
        max_rank: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.threshold = checked_number("threshold", threshold, strict=True)
        if self.threshold > 1.0:
            raise ConfigError("strategy.threshold", f"must be in (0, 1], got {threshold!r}")
        self.threshold_step = checked_number("threshold_step", threshold_step)
        self.samples = int(checked_number("samples", samples, integer=True))
        self.project_head = checked_choice("project_head", str(project_head).lower(),
                                           HEAD_CHOICES)
        self.proximal_mu = checked_number("proximal_mu", proximal_mu)
        self.max_rank = int(checked_number("max_rank", max_rank, integer=True))
        self.layers: dict[str, tuple[str, int]] = {}
        self.head = True
        self.basis: dict[str, np.ndarray] = {}
        self.eps = self.threshold
        self.extensions = 0
        self._sent: ArrayRecord | None = None

    # -- fedsim hooks ---------------------------------------------------------------------
    def initial_arrays(self, exp: Experiment, arrays: ArrayRecord) -> ArrayRecord:
        """Find the projected layers of the experiment's model; the arrays stay as built."""
        self.head = self.project_head == "true" or (
            self.project_head == "auto" and not exp.plan.task_incremental
        )
        try:
            self.layers = projected_layers(exp.make_model(), head=self.head)
        except ValueError as exc:
            raise ConfigError("model", str(exc)) from exc
        return arrays

    def side_records(self) -> tuple[str, ...]:
        """Replies may carry ``fcl.fot-representation`` (the factors of an ended task)."""
        return (wire.FOT_REPRESENTATION,)

    def check_reply(self, reply: Message) -> str | None:
        """A representation names projected layers, with ``d`` rows and finite entries."""
        record = reply.content.array_records.get(wire.FOT_REPRESENTATION)
        if record is None:
            return None
        for name in record.keys():
            if name.endswith(wire.FOT_TAIL):
                reason = self._check_tail(name, record[name].numpy())
                if reason is not None:
                    return reason
                continue
            if name not in self.layers:
                return f"'{wire.FOT_REPRESENTATION}' has unexpected layer '{name}'"
            values = record[name].numpy()
            d = self.layers[name][1]
            if values.ndim != 2 or values.shape[0] != d:
                return (f"'{wire.FOT_REPRESENTATION}.{name}' has shape {values.shape}, "
                        f"expected ({d}, r)")
            if not np.all(np.isfinite(values)):
                return f"'{wire.FOT_REPRESENTATION}.{name}' contains NaN or Inf"
            if self.max_rank > 0 and values.shape[1] > self.max_rank:
                return (f"'{wire.FOT_REPRESENTATION}.{name}' has {values.shape[1]} columns, "
                        f"more than strategy.max_rank={self.max_rank}")
        return None

    def _check_tail(self, key: str, values: np.ndarray) -> str | None:
        layer = key[: -len(wire.FOT_TAIL)]
        where = f"'{wire.FOT_REPRESENTATION}.{key}'"
        if self.max_rank <= 0:
            return f"{where} is unexpected: strategy.max_rank is 0 (factors are not capped)"
        if layer not in self.layers:
            return f"'{wire.FOT_REPRESENTATION}' has unexpected layer '{layer}'"
        if values.shape != (1,) or not np.isfinite(values[0]) or values[0] < 0:
            return f"{where} must be one finite energy >= 0, got shape {values.shape}"
        return None

    def tensorboard(self, sink: TensorBoardSink, server_round: int) -> None:
        """``fot/basis_share/<layer>`` (``k/d``) and ``fot/basis_bytes`` after each round."""
        values = {
            tag("fot_basis_share", name): (self.basis[name].shape[1] if name in self.basis
                                           else 0) / d
            for name, (_, d) in self.layers.items()
        }
        values[tag("fot_basis_bytes")] = float(self.basis_bytes())
        sink.scalars(server_round, values)

    def summary_items(self) -> dict[str, Any]:
        """The basis the server keeps: width per layer, bytes (float32), extensions, eps."""
        return {
            "fot_basis_width": {
                name: int(self.basis[name].shape[1]) if name in self.basis else 0
                for name in self.layers
            },
            "fot_basis_dim": {name: int(d) for name, (_, d) in self.layers.items()},
            "fot_basis_bytes": self.basis_bytes(),
            "fot_extensions": self.extensions,
            "fot_threshold": self.eps,
        }

    def basis_bytes(self) -> int:
        """Bytes of the kept bases as float32 (``4 * sum_l d_l k_l``)."""
        return int(sum(4 * u.size for u in self.basis.values()))

    # -- Flower hooks ---------------------------------------------------------------------
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's messages with ``fcl.fot-samples``, ``fcl.fot-head`` (and ``proximal-mu``)."""
        config[wire.FOT_SAMPLES] = self.samples
        config[wire.FOT_HEAD] = self.head
        if self.proximal_mu > 0:
            config[wire.PROXIMAL_MU] = self.proximal_mu
        if self.max_rank > 0:
            config[wire.FOT_MAX_RANK] = self.max_rank
        self._sent = arrays
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """FedAvg, then GPSE with the round's representations, then FedProject (class doc)."""
        replies = list(replies)
        factors: dict[str, list[np.ndarray]] = {}
        tails: dict[str, float] = {}
        for reply in replies:  # sorted by client id (round loop): a fixed stacking order
            if reply.has_error() or wire.FOT_REPRESENTATION not in reply.content:
                continue
            record = reply.content.array_records[wire.FOT_REPRESENTATION]
            for name in record.keys():
                if name.endswith(wire.FOT_TAIL):
                    layer = name[: -len(wire.FOT_TAIL)]
                    tails[layer] = tails.get(layer, 0.0) + float(record[name].numpy()[0])
                else:
                    factors.setdefault(name, []).append(record[name].numpy())
            del reply.content[wire.FOT_REPRESENTATION]  # Flower wants one ArrayRecord
        aggregated, metrics = super().aggregate_train(server_round, replies)
        if aggregated is None or self._sent is None:
            return aggregated, metrics
        if factors:
            self.extend(factors, tails)
        return self.project(self._sent, aggregated), metrics

    # -- the two parts --------------------------------------------------------------------
    def extend(
        self, factors: dict[str, list[np.ndarray]], tails: dict[str, float] | None = None
    ) -> None:
        """GPSE: extend each layer's basis with the factors received this round.

        ``tails`` holds, per layer, the energy the clients' capped factors left out
        (``strategy.max_rank``); it counts in the criterion's total.
        """
        tails = tails or {}
        for name, mats in sorted(factors.items()):
            basis = extend_basis(self.basis.get(name), mats, self.eps, tails.get(name, 0.0))
            if basis is not None:
                self.basis[name] = basis
        self.extensions += 1
        self.eps = min(1.0, self.eps + self.threshold_step)

    def project(self, previous: ArrayRecord, aggregated: ArrayRecord) -> ArrayRecord:
        """FedProject: ``W_prev + (Delta - Delta U U^T)`` for every layer with a basis."""
        out = {}
        for key in aggregated.keys():
            layer = key[: -len(".weight")] if key.endswith(".weight") else None
            if layer in self.basis:
                prev = previous[key].numpy()
                delta = aggregated[key].numpy() - prev
                out[key] = Array(prev + project_update(delta, self.basis[layer]))
            else:
                out[key] = aggregated[key]
        return ArrayRecord(out)

    # -- checkpointing --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Bases, current threshold and extension count (data only)."""
        return {
            "basis": {k: v.copy() for k, v in self.basis.items()},
            "eps": float(self.eps),
            "extensions": int(self.extensions),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.basis = {k: np.asarray(v, dtype=np.float64) for k, v in state["basis"].items()}
        self.eps = float(state["eps"])
        self.extensions = int(state["extensions"])
