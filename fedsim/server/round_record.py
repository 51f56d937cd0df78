"""A round's results as a typed, read-only record (DESIGN.md rule 3).

The round loop builds one :class:`RoundRecord` per round; the reporter, the run-health
assessment and the summary read it and never edit it. :meth:`RoundRecord.to_dict` gives the
JSON-shaped row that ``summary.json``'s ``history`` and checkpoints hold (client ids as string
keys, non-finite floats left to the writer), :meth:`RoundRecord.from_dict` reads it back.
Optional parts are ``None`` when the round did not produce them and are then absent from the
row, so the row has exactly the keys it always had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The reason recorded for a client that missed the round deadline.
DEADLINE = "no reply before the round deadline"
#: The reason recorded for a client whose evaluation reply missed the round deadline.
EVAL_DEADLINE = "no evaluation reply before the round deadline"
#: Row keys left out of ``summary.json`` (per-client lists; kept in checkpoints).
NOT_IN_SUMMARY = ("cohort", "client_accs", "client_lrs", "update_norms", "client_epsilon")


def _ids_out(reasons: Mapping[int, str]) -> dict[str, str]:
    return {str(c): str(r) for c, r in reasons.items()}


def _ids_in(reasons: Mapping[Any, Any]) -> dict[int, str]:
    return {int(c): str(r) for c, r in reasons.items()}


def _floats(values: Any) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


@dataclass(frozen=True)
class Attempt:
    """One train round trip: whom the server asked and what came back.

    Attributes
    ----------
    cohort : list of int
        The clients selected for this attempt (before removing unavailable ones).
    rejected : dict
        Client id -> reason, for every reply rejected or missed (deadline included).
    faults : dict or None
        Injected fault kind -> number of clients; None without a fault model.
    unavailable : list of int or None
        Clients an injected fault made unavailable; None without a fault model.
    missing : list of int or None
        Clients that did not reply before the deadline; None when nothing was sent.
    asked : int or None
        Clients sent a message; None when nothing was sent.
    unexpected : list of int or None
        Rejected clients without an injected fault (run health); None when nothing was sent.
    """

    cohort: list[int]
    rejected: dict[int, str] = field(default_factory=dict)
    faults: dict[str, int] | None = None
    unavailable: list[int] | None = None
    missing: list[int] | None = None
    asked: int | None = None
    unexpected: list[int] | None = None

    def parts(self) -> dict[str, Any]:
        """Row items after ``cohort`` and ``rejected``, in their row order."""
        out: dict[str, Any] = {}
        if self.faults is not None:
            out["faults"] = dict(self.faults)
        for name in ("unavailable", "missing"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value)
        if self.asked is not None:
            out["asked"] = self.asked
        if self.unexpected is not None:
            out["unexpected"] = list(self.unexpected)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON-shaped form (the ``retry`` item of a row)."""
        return {"cohort": list(self.cohort), "rejected": _ids_out(self.rejected), **self.parts()}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Attempt:
        """Inverse of :meth:`to_dict` (also reads the train items of a round row)."""

        def ints(name: str) -> list[int] | None:
            return None if row.get(name) is None else [int(c) for c in row[name]]

        faults = row.get("faults")
        return cls(
            cohort=[int(c) for c in row.get("cohort", [])],
            rejected=_ids_in(row.get("rejected", {})),
            faults=None if faults is None else {str(k): int(n) for k, n in faults.items()},
            unavailable=ints("unavailable"),
            missing=ints("missing"),
            asked=None if row.get("asked") is None else int(row["asked"]),
            unexpected=ints("unexpected"),
        )


@dataclass(frozen=True)
class CentralEval:
    """The global model scored centrally on each global task's test split."""

    acc: float  # mean over tasks
    task_acc: list[float]  # by global task id


@dataclass(frozen=True)
class ClientEval:
    """A sample of clients scoring the model they would use on the tasks they have seen.

    ``acc`` and ``loss`` are the strategy's aggregate (None when it gave none).
    """

    asked: int
    rejected: dict[int, str]
    accs: list[float]  # each valid reply's accuracy
    failures: int  # rejected or missing replies
    boundary_rows: int  # accuracy-matrix rows recorded this round
    acc: float | None = None
    loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Row items, in their row order."""
        out: dict[str, Any] = {"eval_asked": self.asked, "eval_rejected": _ids_out(self.rejected)}
        if self.acc is not None:
            out["client_acc"] = self.acc
            out["client_eval_loss"] = self.loss
        out.update(
            client_accs=list(self.accs),
            eval_failures=self.failures,
            boundary_rows=self.boundary_rows,
        )
        return out

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> ClientEval | None:
        """Read the evaluation items of a row (None when it has none)."""
        if "eval_asked" not in row:
            return None
        return cls(
            asked=int(row["eval_asked"]),
            rejected=_ids_in(row.get("eval_rejected", {})),
            accs=[float(a) for a in row.get("client_accs", [])],
            failures=int(row.get("eval_failures", 0)),
            boundary_rows=int(row.get("boundary_rows", 0)),
            acc=None if "client_acc" not in row else _float(row["client_acc"]),
            loss=None if "client_acc" not in row else _float(row.get("client_eval_loss")),
        )


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True)
class TrainResult:
    """What a round's training produced once its replies were aggregated (not when skipped)."""

    train_loss: float | None  # the strategy's aggregate train loss (None: no metrics)
    client_difficulties: list[float]  # reported difficulty of each valid reply
    client_lrs: list[float]  # each valid reply's final local LR (NaN when not reported)
    lr: dict[str, float]  # the LR controller's scalars (``lr/server``, ``lr/client_mean``, ...)
    #: per-client reply metrics of the FCL baselines, ``"<metric>/mean"`` and ``"/max"``
    #: (:func:`fedsim.server.client_metrics.baseline_values`); empty for other methods
    baselines: dict[str, float] = field(default_factory=dict)
    #: mean local training wall time of the valid replies (seconds; None: none reported)
    client_train_s: float | None = None
    #: privacy scalars (``epsilon``, ``epsilon_mean``, ``clip_norm``, ``noise_multiplier``,
    #: ``clipped_fraction``; :mod:`fedsim.server.privacy`); empty without privacy
    privacy: dict[str, float] = field(default_factory=dict)
    #: each replying client's ε so far (per-client privacy modes)
    client_epsilon: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Row items, in their row order."""
        out: dict[str, Any] = {} if self.train_loss is None else {"train_loss": self.train_loss}
        out["client_difficulties"] = list(self.client_difficulties)
        out["client_lrs"] = list(self.client_lrs)
        if self.baselines:
            out["baselines"] = dict(self.baselines)
        if self.client_train_s is not None:
            out["client_train_s"] = self.client_train_s
        if self.privacy:
            out["privacy"] = dict(self.privacy)
        if self.client_epsilon:
            out["client_epsilon"] = {str(c): e for c, e in sorted(self.client_epsilon.items())}
        return {**out, **self.lr}


@dataclass(frozen=True)
class RoundRecord:
    """Everything one round produced; built by the round loop, read by everyone else.

    Attributes
    ----------
    round : int
        The server round (1-based).
    train : Attempt
        The first train round trip.
    curriculum : dict
        The selection's curriculum scalars, plus the strategy's aggregate ``difficulty`` and
        ``curriculum-pool`` when reported.
    selection_why : str
        Why the selection picked this cohort ("" when it does not say).
    failures : int
        Rejected replies of both attempts.
    retry : Attempt or None
        The one retry (``federation.on_too_few=retry``), None when there was none.
    bytes_down, bytes_up : int
        Array bytes sent to and received from clients.
    clients_trained : int
        Valid train replies.
    late_dropped : int or None
        Late replies the grid dropped so far; None when the round had no cohort.
    update_norms : list of float or None
        L2 norm of each valid reply's update; None when no aggregation was tried.
    skipped : str or None
        Why the round was skipped (too few replies, no aggregate), None when it was not.
    result : TrainResult or None
        Aggregation outcome; None for a round without training (skipped or no cohort).
    central : CentralEval or None
        Central evaluation, None on rounds without one.
    client_eval : ClientEval or None
        Client evaluation, None on rounds that asked no client.
    round_time_s : float
        Wall time of the round (train + evaluate).
    cl_running : dict
        The federation's running CL metrics after this round.
    """

    round: int
    train: Attempt
    curriculum: dict[str, float] = field(default_factory=dict)
    selection_why: str = ""
    failures: int = 0
    retry: Attempt | None = None
    bytes_down: int = 0
    bytes_up: int = 0
    clients_trained: int = 0
    late_dropped: int | None = None
    update_norms: list[float] | None = None
    skipped: str | None = None
    result: TrainResult | None = None
    central: CentralEval | None = None
    client_eval: ClientEval | None = None
    round_time_s: float = 0.0
    cl_running: dict[str, float] = field(default_factory=dict)

    # -- views -----------------------------------------------------------------------------
    def attempts(self) -> list[Attempt]:
        """The train attempts of the round: the first, then the retry if any."""
        return [self.train, *([self.retry] if self.retry is not None else [])]

    def all_rejected(self) -> list[tuple[int, int, str]]:
        """(attempt, client, reason) of every train reply the round rejected or missed."""
        return [
            (i, int(c), r)
            for i, part in enumerate(self.attempts())
            for c, r in sorted(part.rejected.items())
        ]

    @property
    def train_loss(self) -> float | None:
        """The aggregate train loss (None when the round did not aggregate one)."""
        return None if self.result is None else self.result.train_loss

    @property
    def lr(self) -> dict[str, float]:
        """The LR controller's scalars of the round (empty when it did not train)."""
        return {} if self.result is None else dict(self.result.lr)

    # -- rows ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON-shaped row (checkpoints; ``summary.json`` minus :data:`NOT_IN_SUMMARY`)."""
        row: dict[str, Any] = {
            "round": self.round,
            "cohort": list(self.train.cohort),
            "failures": self.failures,
            "rejected": _ids_out(self.train.rejected),
            "curriculum": dict(self.curriculum),
            "selection_why": self.selection_why,
            **self.train.parts(),
        }
        if self.retry is not None:
            row["retry"] = self.retry.to_dict()
        row.update(
            bytes_down=self.bytes_down,
            bytes_up=self.bytes_up,
            clients_trained=self.clients_trained,
        )
        for name in ("late_dropped", "update_norms", "skipped"):
            value = getattr(self, name)
            if value is not None:
                row[name] = list(value) if isinstance(value, list) else value
        if self.result is not None:
            row.update(self.result.to_dict())
        if self.central is not None:
            row["central_acc"] = self.central.acc
            row["central_task_acc"] = list(self.central.task_acc)
        if self.client_eval is not None:
            row.update(self.client_eval.to_dict())
        row["round_time_s"] = self.round_time_s
        row["cl_running"] = dict(self.cl_running)
        return row

    def summary_dict(self) -> dict[str, Any]:
        """The row as ``summary.json``'s ``history`` holds it."""
        return {k: v for k, v in self.to_dict().items() if k not in NOT_IN_SUMMARY}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> RoundRecord:
        """Inverse of :meth:`to_dict`."""
        result = None
        if "client_lrs" in row:
            known = set(_ROW_KEYS)
            result = TrainResult(
                train_loss=None if "train_loss" not in row else _float(row["train_loss"]),
                client_difficulties=[float(v) for v in row.get("client_difficulties", [])],
                client_lrs=[_float(v) for v in row["client_lrs"]],
                lr={k: _float(v) for k, v in row.items() if k not in known},
                baselines={str(k): _float(v) for k, v in row.get("baselines", {}).items()},
                client_train_s=(
                    None if "client_train_s" not in row else _float(row["client_train_s"])
                ),
                privacy={str(k): _float(v) for k, v in row.get("privacy", {}).items()},
                client_epsilon={
                    int(k): _float(v) for k, v in row.get("client_epsilon", {}).items()
                },
            )
        central = None
        if "central_acc" in row:
            central = CentralEval(
                _float(row["central_acc"]), [_float(a) for a in row["central_task_acc"]]
            )
        return cls(
            round=int(row["round"]),
            train=Attempt.from_dict(row),
            curriculum={str(k): _float(v) for k, v in row.get("curriculum", {}).items()},
            selection_why=str(row.get("selection_why", "")),
            failures=int(row.get("failures", 0)),
            retry=None if row.get("retry") is None else Attempt.from_dict(row["retry"]),
            bytes_down=int(row.get("bytes_down", 0)),
            bytes_up=int(row.get("bytes_up", 0)),
            clients_trained=int(row.get("clients_trained", 0)),
            late_dropped=None if "late_dropped" not in row else int(row["late_dropped"]),
            update_norms=_floats(row.get("update_norms")),
            skipped=None if row.get("skipped") is None else str(row["skipped"]),
            result=result,
            central=central,
            client_eval=ClientEval.from_dict(row),
            round_time_s=float(row.get("round_time_s", 0.0)),
            cl_running={str(k): _float(v) for k, v in row.get("cl_running", {}).items()},
        )


#: Row keys that measure wall-clock time: they differ between two runs of the same seed.
TIMING_KEYS = ("round_time_s", "client_train_s")

#: Every fixed row key; any other top-level key of a row is an LR-controller scalar.
_ROW_KEYS = (
    "round", "cohort", "failures", "rejected", "curriculum", "selection_why", "faults",
    "unavailable", "missing", "asked", "unexpected", "retry", "bytes_down", "bytes_up",
    "clients_trained", "late_dropped", "update_norms", "skipped", "train_loss",
    "client_difficulties", "client_lrs", "baselines", "client_train_s", "privacy",
    "client_epsilon", "central_acc",
    "central_task_acc", "eval_asked", "eval_rejected", "client_acc", "client_eval_loss",
    "client_accs", "eval_failures", "boundary_rows", "round_time_s", "cl_running",
)  # fmt: skip
