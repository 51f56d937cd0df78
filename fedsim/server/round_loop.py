"""The one round loop: select, train, validate, aggregate, LR step, evaluate, report, checkpoint.

It drives any Flower Message-API strategy through its hooks (``configure_train``,
``aggregate_train``, ``configure_evaluate``, ``aggregate_evaluate``) over a
:class:`~fedsim.transport.virtual_grid.VirtualGrid`, so strategies never know whether clients are
virtual or real nodes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp.strategy import Strategy

from fedsim import wire
from fedsim.errors import RoundError
from fedsim.experiment import Experiment
from fedsim.interfaces import ClientSelection, LRController, strategy_hooks
from fedsim.server.client_metrics import baseline_values
from fedsim.server.eval_cohort import eval_cohort, evaluation_panel
from fedsim.server.privacy import round_privacy
from fedsim.server.reply_checks import check_eval_reply
from fedsim.server.round_record import (
    EVAL_DEADLINE,
    Attempt,
    CentralEval,
    ClientEval,
    RoundRecord,
    TrainResult,
)
from fedsim.server.secagg import SecAggDriver, SecAggRound, SecAggSettings, secure_metrics
from fedsim.server.state import ServerState
from fedsim.server.train_exchange import TrainExchange, array_bytes, first_rejected
from fedsim.server.update_norms import update_norms
from fedsim.server.weighting import aggregate_evaluation
from fedsim.transport.virtual_grid import VirtualGrid

log = logging.getLogger("fedsim")


@dataclass
class LoopSettings:
    """Round-loop knobs from the config (``federation.*`` and ``eval.*``)."""

    num_rounds: int
    train_config: Mapping[str, Any]
    round_timeout: float | None = None
    min_replies: int = 1
    on_too_few: str = "skip"  # skip | retry | stop
    central_every: int = 1
    central_eval: bool = True  # False: the server has no test set (node-local data): skipped
    client_boundary_eval: bool = True
    client_eval_fraction: float = 0.0
    panel_size: int | None = None
    checkpoint_every: int = 1
    strict_protocol: bool = False  # deployment: a reply lacking a protocol key fails the run
    #: C and z of the client-side privacy modes (:func:`fedsim.server.privacy.static_scalars`)
    privacy: Mapping[str, float] = field(default_factory=dict)
    #: SecAgg+ for the train step (``privacy.secagg``; deployment engine only), None: off
    secagg: SecAggSettings | None = None


class RoundLoop:
    """Runs rounds ``state.round + 1 .. num_rounds`` and reports each one."""

    def __init__(
        self,
        *,
        exp: Experiment,
        strategy: Strategy,
        grid: VirtualGrid,
        selection: ClientSelection,
        lr_controller: LRController,
        faults=None,
        settings: LoopSettings,
        report: Callable[[int, RoundRecord, ServerState], None],
        checkpoint: Callable[[ServerState], None] | None = None,
    ) -> None:
        self.exp = exp
        self.strategy = strategy
        self.hooks = strategy_hooks(strategy)
        self.grid = grid
        self.selection = selection
        self.lr = lr_controller
        self.faults = faults
        self.s = settings
        self.report = report
        self.checkpoint = checkpoint
        self.panel = evaluation_panel(exp, settings.panel_size)
        self.exchange = TrainExchange(
            strategy=strategy,
            hooks=self.hooks,
            grid=grid,
            lr_controller=lr_controller,
            faults=faults,
            seed=exp.seed,
            round_timeout=settings.round_timeout,
            strict_protocol=settings.strict_protocol,
        )
        self.secagg = None
        if settings.secagg is not None:
            self.secagg = SecAggDriver(
                settings.secagg, grid, settings.round_timeout, settings.strict_protocol
            )

    # ---------------------------------------------------------------------------------
    def run(self, state: ServerState) -> ServerState:
        """Run the remaining rounds; return the final state."""
        if self.s.central_eval and state.round == 0 and 0 not in state.book.central:
            state.book.record_central(0, self._central(state.arrays))
        if self.s.round_timeout is not None and state.round < self.s.num_rounds:
            self.grid.warm_up()
        for rnd in range(state.round + 1, self.s.num_rounds + 1):
            t0 = time.perf_counter()
            trained = self._train(rnd, state)
            central, client_eval = self._evaluate(rnd, state)
            record = replace(
                trained,
                central=central,
                client_eval=client_eval,
                round_time_s=time.perf_counter() - t0,
                cl_running=dict(state.book.federation_metrics(rnd)),
            )
            state.round = rnd
            state.history.append(record)
            self.report(rnd, record, state)
            if self.checkpoint is not None and (
                rnd % self.s.checkpoint_every == 0 or rnd == self.s.num_rounds
            ):
                self.checkpoint(state)
        return state

    # ---------------------------------------------------------------------------------
    def _train(self, rnd: int, state: ServerState) -> RoundRecord:
        active = self.exp.plan.active_clients(rnd)
        cohort = self.selection.select(rnd, active)
        curriculum = dict(self.selection.scalars())
        why = self.selection.explain()
        if not cohort:
            return RoundRecord(
                round=rnd, train=Attempt(cohort=[]), curriculum=curriculum, selection_why=why
            )
        config = ConfigRecord({**self.s.train_config, **self.lr.client_config(rnd)})
        if self.secagg is not None:
            base = RoundRecord(round=rnd, train=Attempt(cohort=list(cohort)),
                               curriculum=curriculum, selection_why=why)  # fmt: skip
            return self._secure(rnd, state, cohort, config, base)
        first, good, down = self.exchange.exchange(rnd, state, cohort, config, attempt=0)
        retry = None
        if len(good) < self.s.min_replies and self.s.on_too_few == "retry":
            again = self.exchange.retry_cohort(rnd, active, cohort, {c for c, _ in good})
            retry, g2, d2 = self.exchange.exchange(rnd, state, again, config, attempt=1)
            good = sorted(good + g2, key=lambda p: p[0])
            down += d2
        bytes_up = sum(array_bytes(r) for _, r in good)
        state.bytes_total += down + bytes_up
        record = RoundRecord(
            round=rnd,
            train=first,
            curriculum=curriculum,
            selection_why=why,
            failures=len(first.rejected) + (len(retry.rejected) if retry is not None else 0),
            retry=retry,
            bytes_down=down,
            bytes_up=bytes_up,
            clients_trained=len(good),
            late_dropped=self.grid.late_dropped,
        )
        if len(good) < self.s.min_replies:
            all_rejected = {**first.rejected, **(retry.rejected if retry is not None else {})}
            return self._too_few(
                rnd,
                record,
                f"{len(good)} valid replies, fewer than federation.min_replies="
                f"{self.s.min_replies}; rejected: {first_rejected(all_rejected)}",
            )
        return self._aggregate(rnd, state, record, good)

    def _secure(
        self, rnd: int, state: ServerState, cohort: list[int], config: ConfigRecord,
        base: RoundRecord,
    ) -> RoundRecord:  # fmt: skip
        """The train step through SecAgg+ (:mod:`fedsim.server.secagg`): no update seen here."""
        if len(cohort) < 2:
            why = f"secure aggregation needs at least 2 clients in a round, got {len(cohort)}"
            return self._too_few(rnd, base, why)
        messages, _ = self.exchange.messages(rnd, state, cohort, config)
        out = self.secagg.train(rnd, state.arrays, messages, cohort)
        state.bytes_total += out.bytes_down + out.bytes_up
        record = replace(
            base,
            train=out.attempt,
            failures=len(out.attempt.rejected),
            bytes_down=out.bytes_down,
            bytes_up=out.bytes_up,
            clients_trained=len(out.good),
            late_dropped=self.grid.late_dropped,
        )
        if out.halted is None and len(out.good) < self.s.min_replies:
            out.halted = (
                f"{len(out.good)} valid replies, fewer than federation.min_replies="
                f"{self.s.min_replies}; rejected: {first_rejected(out.attempt.rejected)}"
            )
        if out.halted is not None:
            return self._too_few(rnd, record, out.halted)
        return self._aggregate(rnd, state, record, out.good, secure=out)

    def _aggregate(
        self,
        rnd: int,
        state: ServerState,
        record: RoundRecord,
        good: list[tuple[int, Message]],
        secure: SecAggRound | None = None,
    ) -> RoundRecord:
        """Aggregate the valid replies, step the LR controller, complete the record."""
        replies = [r for _, r in good]
        if secure is None:
            record = replace(record, update_norms=update_norms(replies, state.arrays))
            aggregated, metrics = self.strategy.aggregate_train(rnd, replies)
        else:  # SecAgg+: the mean came unmasked; there is no individual update to measure
            aggregated, metrics = secure.arrays, secure_metrics(self.strategy, replies)
        if aggregated is None:
            return self._too_few(
                rnd, record, f"strategy '{type(self.strategy).__name__}' produced no aggregate"
            )
        state.arrays = self.lr.server_step(rnd, state.arrays, aggregated, replies)
        train_loss, curriculum = None, dict(record.curriculum)
        if metrics is not None:
            train_loss = float(metrics.get(wire.TRAIN_LOSS, float("nan")))
            for key in (wire.DIFFICULTY, wire.CURRICULUM_POOL):
                if key in metrics:
                    curriculum[key] = float(metrics[key])
        difficulties = [
            float(r.content[wire.METRICS][wire.DIFFICULTY])
            for r in replies
            if wire.DIFFICULTY in r.content[wire.METRICS]
        ]
        self.selection.observe(rnd, {cid: dict(r.content[wire.METRICS]) for cid, r in good})
        client_lrs = [
            float(r.content[wire.METRICS].get(wire.FINAL_LR, float("nan"))) for r in replies
        ]
        seconds = [
            float(r.content[wire.METRICS][wire.TRAIN_SECONDS])
            for r in replies
            if wire.TRAIN_SECONDS in r.content[wire.METRICS]
        ]
        privacy, client_eps = round_privacy(good, self.strategy, state.history, self.s.privacy)
        if secure is not None:
            privacy.update(secure.scalars())
        result = TrainResult(
            train_loss,
            difficulties,
            client_lrs,
            dict(self.lr.scalars()),
            baseline_values(replies),
            sum(seconds) / len(seconds) if seconds else None,
            privacy,
            client_eps,
        )
        return replace(record, curriculum=curriculum, result=result)

    def _too_few(self, rnd: int, record: RoundRecord, why: str) -> RoundRecord:
        """Apply ``federation.on_too_few`` (stop: raise; skip/retry: mark the round skipped)."""
        if self.s.on_too_few == "stop":
            raise RoundError(
                f"round {rnd}: {why} (federation.on_too_few=stop; the last checkpoint can be "
                "resumed with 'fedsim resume RUN_DIR')"
            )
        log.warning("round %d skipped: %s", rnd, why)
        return replace(record, skipped=why)

    def _central(self, arrays: ArrayRecord) -> np.ndarray:
        return self.hooks.central_accuracies(self.exp, arrays)

    # ---------------------------------------------------------------------------------
    def _evaluate(
        self, rnd: int, state: ServerState
    ) -> tuple[CentralEval | None, ClientEval | None]:
        central = None
        if self.s.central_eval and (rnd % self.s.central_every == 0 or rnd == self.s.num_rounds):
            accs = self._central(state.arrays)
            state.book.record_central(rnd, accs)
            central = CentralEval(float(np.mean(accs)), [float(a) for a in accs])
        cohort = eval_cohort(self.exp, self.s, self.panel, rnd)
        if not cohort:
            return central, None
        self.grid.set_cohort(cohort)
        config = ConfigRecord(dict(self.s.train_config))
        messages = list(self.strategy.configure_evaluate(rnd, state.arrays, config, self.grid))
        replies = self.grid.send_and_receive(messages, timeout=self.s.round_timeout)
        self.exchange.check_protocol("evaluate", replies)
        good, rejected = [], {}
        for reply in replies:
            reason = check_eval_reply(reply)
            if reason is None:
                good.append(reply)
            else:
                rejected[self.grid.client_of(reply)] = reason
        for cid in self.grid.missing:
            rejected[cid] = EVAL_DEADLINE
        if rejected:
            log.warning("round %d: %d evaluation replies rejected (%s)", rnd, len(rejected),
                        first_rejected(rejected))  # fmt: skip
        boundary = 0
        for reply in good:
            task_eval = reply.content[wire.TASK_EVAL]
            with_ids = wire.EVAL_TASK_IDS in task_eval
            boundary += state.book.record_client(
                self.grid.client_of(reply),
                rnd,
                list(task_eval[wire.EVAL_POSITIONS]),
                list(task_eval[wire.EVAL_ACCURACIES]),
                list(task_eval[wire.EVAL_TASK_IDS]) if with_ids else None,
                list(task_eval.get(wire.EVAL_ORDER, [])) if with_ids else None,
            )
        agg = aggregate_evaluation(self.strategy, rnd, good) if good else None
        return central, ClientEval(
            asked=len(cohort),
            rejected=rejected,
            accs=[float(r.content[wire.METRICS][wire.EVAL_ACC]) for r in good],
            failures=len(replies) - len(good) + len(self.grid.missing),
            boundary_rows=boundary,
            acc=None if agg is None else float(agg.get(wire.EVAL_ACC, float("nan"))),
            loss=None if agg is None else float(agg.get(wire.EVAL_LOSS, float("nan"))),
        )
