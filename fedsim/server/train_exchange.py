"""The train round trip of one attempt: faults, send, validate (split out of the round loop).

:class:`TrainExchange` injects the fault model's per-client faults, lets the strategy build the
train messages for the cohort, sends them over the
:class:`~fedsim.transport.virtual_grid.VirtualGrid` and validates every reply
(:mod:`fedsim.server.reply_checks`); it also draws the one retry's cohort. The secure-aggregation
path (:mod:`fedsim.server.secagg`) replaces :meth:`TrainExchange.exchange` when
``privacy.secagg`` is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Message
from flwr.serverapp.strategy import Strategy

from fedsim import wire
from fedsim.interfaces import LRController, StrategyHooks
from fedsim.seeding import rng_for
from fedsim.server.reply_checks import check_protocol, check_train_reply
from fedsim.server.round_record import DEADLINE, Attempt
from fedsim.server.state import ServerState
from fedsim.server.weighting import missing_weight
from fedsim.transport.virtual_grid import VirtualGrid


class TrainExchange:
    """One train attempt over the virtual grid; reply checks; the retry's cohort.

    Parameters
    ----------
    strategy, hooks : the strategy and its :class:`~fedsim.interfaces.StrategyHooks`
    grid : VirtualGrid
    lr_controller : LRController
        Its ``client_arrays`` travel with every train message.
    faults : fault model or None
    seed : int
        The run seed (the retry's draw).
    round_timeout : float or None
    strict_protocol : bool
        Deployment: a reply lacking a protocol key fails the run.
    """

    def __init__(
        self,
        *,
        strategy: Strategy,
        hooks: StrategyHooks,
        grid: VirtualGrid,
        lr_controller: LRController,
        faults: Any,
        seed: int,
        round_timeout: float | None,
        strict_protocol: bool,
    ) -> None:
        self.strategy = strategy
        self.hooks = hooks
        self.grid = grid
        self.lr = lr_controller
        self.faults = faults
        self.seed = seed
        self.round_timeout = round_timeout
        self.strict_protocol = strict_protocol

    def exchange(
        self, rnd: int, state: ServerState, cohort: list[int], config: ConfigRecord, attempt: int
    ) -> tuple[Attempt, list[tuple[int, Message]], int]:
        """Inject faults, send one train round trip, validate; return (attempt, good, bytes)."""
        selected = list(cohort)
        extras = None
        faults = unavailable = None
        if self.faults is not None:
            extras = {cid: self.faults.fault_for(rnd, cid, attempt) for cid in cohort}
            kinds = [str(e[wire.FAULT]) for e in extras.values() if wire.FAULT in e]
            faults = {k: kinds.count(k) for k in sorted(set(kinds))}
            unavailable = [c for c in cohort if extras[c].get(wire.FAULT) == "unavailable"]
            cohort = [c for c in cohort if c not in unavailable]
        if not cohort:
            return Attempt(selected, {}, faults, unavailable), [], 0
        messages, bytes_down = self.messages(rnd, state, cohort, config, extras)
        replies = self.grid.send_and_receive(messages, timeout=self.round_timeout)
        self.check_protocol("train", replies)
        good, rejected = [], {}
        for reply in replies:
            cid = self.grid.client_of(reply)
            reason = self.check(reply, state)
            if reason is None:
                good.append((cid, reply))
            else:
                rejected[cid] = bare_reason(cid, reason)
        for cid in self.grid.missing:
            rejected[cid] = DEADLINE
        injected = {c for c, e in (extras or {}).items() if wire.FAULT in e}
        done = Attempt(
            cohort=selected,
            rejected=rejected,
            faults=faults,
            unavailable=unavailable,
            missing=list(self.grid.missing),
            asked=len(cohort),
            unexpected=sorted(c for c in rejected if c not in injected),  # run health
        )
        return done, good, bytes_down

    def messages(
        self,
        rnd: int,
        state: ServerState,
        cohort: list[int],
        config: ConfigRecord,
        extras: dict[int, dict] | None = None,
    ) -> tuple[list[Message], int]:
        """The strategy's train messages for ``cohort`` and their array bytes (LR arrays too)."""
        lr_arrays = self.lr.client_arrays(rnd)
        shared = {wire.LR_ARRAYS: lr_arrays} if lr_arrays is not None else None
        self.grid.set_cohort(cohort, extras, shared_records=shared)
        messages = list(self.strategy.configure_train(rnd, state.arrays, config, self.grid))
        bytes_down = sum(array_bytes(m) for m in messages)
        if lr_arrays is not None:
            bytes_down += len(messages) * lr_arrays.count_bytes()
        return messages, bytes_down

    def retry_cohort(
        self, rnd: int, active: Sequence[int], cohort: list[int], answered: set[int]
    ) -> list[int]:
        """Clients for the one retry: fresh active clients, else the cohort's failed ones."""
        taken = set(cohort)  # a set: ``active`` may hold a million ids
        pool = [c for c in active if c not in taken] or [c for c in cohort if c not in answered]
        k = min(len(cohort), len(pool))
        if k == 0:
            return []
        rng = rng_for(self.seed, "retry", rnd)
        return sorted(int(c) for c in rng.choice(np.asarray(sorted(pool)), size=k, replace=False))

    def check(self, reply: Message, state: ServerState) -> str | None:
        """Why a train reply is rejected (None: it is valid)."""
        reason = check_train_reply(
            reply,
            self.hooks.reference_arrays(state.arrays),
            side_records=self.hooks.side_records(),
        )
        if reason is None:
            reason = missing_weight(reply, self.strategy)
        return reason if reason is not None else self.hooks.check_reply(reply)

    def check_protocol(self, kind: str, replies: list[Message]) -> None:
        """Deployment: a node may run someone else's ClientApp; fail on a missing key."""
        if self.strict_protocol:
            pairs = [(self.grid.client_of(r), r) for r in replies]
            check_protocol(kind, pairs, self.grid.node_of_client)


def array_bytes(msg: Message) -> int:
    """Bytes of a message's ArrayRecords (0 for an error reply)."""
    if msg.has_error():
        return 0
    return sum(rec.count_bytes() for rec in msg.content.array_records.values())


def bare_reason(cid: int, reason: str) -> str:
    """``reason`` without a leading ``client <cid>: `` (the record and every report add it)."""
    prefix = f"client {cid}: "
    return reason[len(prefix):] if reason.startswith(prefix) else reason


def first_rejected(rejected: dict[int, str]) -> str:
    """``client <id>: <reason>`` of the lowest rejected client id ("none" when empty)."""
    if not rejected:
        return "none"
    cid = sorted(rejected)[0]
    return f"client {cid}: {rejected[cid]}"
