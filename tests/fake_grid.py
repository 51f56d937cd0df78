"""A fake Flower ``Grid`` that runs the real fedsim ClientApp in-process (no Ray, no SuperLink).

The engine core (:class:`~fedsim.server.round_loop.RoundLoop` over
:class:`~fedsim.transport.virtual_grid.VirtualGrid`) only talks to a Grid through
``get_node_ids`` / ``send_and_receive`` / ``push_messages`` / ``pull_messages``. This fake
implements exactly those, handing each message to the real ClientApp built by
:func:`fedsim.client.app.build_client_app` (so ``train_one`` / ``evaluate_one`` run and the
numbers are real), one persistent :class:`flwr.app.Context` per fake node.

It can misbehave on purpose, the way a real engine does:

* ``shuffle_seed``: replies come back in a seeded random order (Ray returns them in any order);
* ``hold``: a predicate on an outgoing Flower message; its reply "misses the deadline" — it is
  not returned by that ``send_and_receive`` but is there for a later ``pull_messages``;
* ``fail``: a predicate; that message's reply is an Error, as when the ClientApp raised;
* ``copy_messages``: each node gets its own deep copy of a message, as over a real wire (a
  sender may hand several nodes one content object, e.g. Flower's SecAgg+ setup stage, and
  ``secaggplus_mod`` edits what it receives);
* ``stop_before_send`` / ``stop_when``: the n-th ``send_and_receive``, or the first one at which
  ``stop_when()`` is true, raises :class:`EngineStoppedError` (a driver killed mid-run), so a
  test can resume from the last checkpoint.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
import torch
from flwr.app import Context, Error, Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

from fedsim import wire
from fedsim.client.app import build_client_app
from fedsim.transport import packing

CLIENT_APP_RAISED_EXCEPTION = 2  # flwr.common.constant.ErrorCode
Predicate = Callable[[Message], bool]


class EngineStoppedError(RuntimeError):
    """Raised by :class:`FakeGrid` to simulate a driver killed between two sends."""


def _parts(msg: Message) -> list[RecordDict]:
    return packing.unpack(msg.content) if packing.is_packed(msg.content) else [msg.content]


def client_ids(msg: Message) -> list[int]:
    """The virtual client ids an outgoing Flower message carries (one, or a pack's)."""
    return [int(p[wire.CONFIG][wire.CLIENT_ID]) for p in _parts(msg) if wire.CONFIG in p]


def server_round(msg: Message) -> int | None:
    """The server round an outgoing train/evaluate message belongs to (None for a query)."""
    rounds = {
        int(p[wire.CONFIG][wire.SERVER_ROUND])
        for p in _parts(msg)
        if wire.CONFIG in p and wire.SERVER_ROUND in p[wire.CONFIG]
    }
    return rounds.pop() if rounds else None


@contextmanager
def task_identity(run_id: int = 1) -> Iterator[None]:
    """Set the run/task/node identity Flower's ``Message`` needs (the ServerApp runtime's job)."""
    attrs = ("_run_id", "_task_id", "_node_id")
    saved = {a: getattr(TaskIdentity, a) for a in attrs}
    for attr in attrs:
        setattr(TaskIdentity, attr, run_id)
    try:
        yield
    finally:
        for attr, value in saved.items():
            setattr(TaskIdentity, attr, value)


def run_on_fake_grid(
    cfg: Mapping[str, Any],
    run_dir: Path,
    *,
    max_messages: int | None = None,
    resume: bool = False,
    **grid_options: Any,
) -> tuple[dict[str, Any], FakeGrid]:
    """Run :func:`fedsim.server.app.run_server` on a :class:`FakeGrid`; return (summary, grid).

    The summary is ``run_dir/summary.json`` as written (JSON types, like a real run's).
    """
    import json

    from fedsim.server.app import run_server

    grid = FakeGrid(cfg, **grid_options)
    run_dir.mkdir(parents=True, exist_ok=True)
    with task_identity():
        run_server(cfg, grid, run_dir, max_messages=max_messages, resume=resume)
    return json.loads((run_dir / "summary.json").read_text()), grid


def run_experiment(root: Path, *overrides: str, **grid_options: Any) -> tuple[Path, dict]:
    """Compose ``overrides``, validate like the command line, run on a :class:`FakeGrid`.

    Returns ``(run_dir, summary)``; ``run_dir`` holds what a command-line run's does apart from
    ``status.json``: ``config.yaml``, ``summary.json``, ``checkpoint.npz`` and ``tb/``.
    """
    from fedsim.config.validate import validate
    from fedsim.runtime.run_dir import write_config
    from tests.conftest import compose

    cfg = compose(*overrides, f"output.root={root}")
    validate(cfg)
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    write_config(run_dir, cfg)
    summary, _ = run_on_fake_grid(cfg, run_dir, **grid_options)
    return run_dir, summary


class FakeGrid(Grid):
    """An in-process Grid over ``num_nodes`` fake nodes running the real fedsim ClientApp.

    Parameters
    ----------
    cfg : Mapping
        The resolved experiment config the ClientApp builds its experiment from.
    num_nodes : int
        How many Flower nodes the fake engine registers.
    shuffle_seed : int, optional
        Return each send's replies in a random order drawn from this seed.
    hold, fail : callable, optional
        Predicates on outgoing Flower messages: hold the reply back (late), or reply an Error.
    stop_before_send : int, optional
        Raise :class:`EngineStoppedError` instead of performing this send (1-based, counting sends).
    stop_when : callable, optional
        Raise :class:`EngineStoppedError` instead of the first send at which ``stop_when()`` holds
        (e.g. "the checkpoint holds round 2").
    """

    def __init__(
        self,
        cfg: Mapping[str, Any],
        num_nodes: int = 2,
        *,
        shuffle_seed: int | None = None,
        hold: Predicate | None = None,
        fail: Predicate | None = None,
        stop_before_send: int | None = None,
        stop_when: Callable[[], bool] | None = None,
        copy_messages: bool = False,
    ) -> None:
        self.copy_messages = copy_messages
        self.app = build_client_app(lambda _context: cfg)
        self.node_ids = [1000 + i for i in range(num_nodes)]
        self.contexts = {
            nid: Context(
                run_id=1,
                node_id=nid,
                node_config={"partition-id": i, "num-partitions": num_nodes},
                state=RecordDict(),
                run_config={},
            )
            for i, nid in enumerate(self.node_ids)
        }
        self.rng = np.random.default_rng(shuffle_seed) if shuffle_seed is not None else None
        self.hold = hold
        self.fail = fail
        self.stop_before_send = stop_before_send
        self.stop_when = stop_when
        self.sends = 0
        self.reordered = 0  # sends whose replies were returned out of order
        self.sent: list[Message] = []  # every Flower message pushed, in push order
        self._inbox: dict[str, Message] = {}  # message id -> pushed message not yet answered
        self._held: dict[str, Message] = {}  # message id -> reply held back (late)
        self._run = None

    # -- the Grid interface -----------------------------------------------------------
    def set_run(self, run) -> None:  # noqa: D102
        self._run = run

    @property
    def run(self):  # noqa: D102
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):  # noqa: D102
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:  # noqa: D102
        return list(self.node_ids)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:  # noqa: D102
        ids = []
        for msg in messages:
            if msg.metadata.dst_node_id not in self.contexts:
                raise ValueError(f"no fake node {msg.metadata.dst_node_id}")
            msg.metadata.__dict__["_message_id"] = str(uuid4())
            self._inbox[msg.metadata.message_id] = msg
            self.sent.append(msg)
            ids.append(msg.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Answer pushed messages now; a held reply is returned here (late), never earlier."""
        out = []
        for mid in list(message_ids):
            if mid in self._held:
                out.append(self._held.pop(mid))
            elif mid in self._inbox:
                out.append(self._answer(self._inbox.pop(mid)))
        return out

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push, answer every message in-process; return the replies not held back."""
        self.sends += 1
        if (self.stop_before_send is not None and self.sends >= self.stop_before_send) or (
            self.stop_when is not None and self.stop_when()
        ):
            raise EngineStoppedError(f"fake engine stopped before send {self.sends}")
        replies = []
        for mid in self.push_messages(messages):
            msg = self._inbox.pop(mid)
            reply = self._answer(msg)
            if self.hold is not None and timeout is not None and self.hold(msg):
                self._held[mid] = reply
            else:
                replies.append(reply)
        if self.rng is not None:
            order = self.rng.permutation(len(replies))
            self.reordered += int(any(int(i) != j for j, i in enumerate(order)))
            replies = [replies[i] for i in order]
        return replies

    # -- one node's work --------------------------------------------------------------
    def _answer(self, msg: Message) -> Message:
        if self.fail is not None and self.fail(msg):
            return self._error(msg, "fake engine: the node failed")
        threads = torch.get_num_threads()  # the ClientApp sets 1 (an actor's share of a core)
        if self.copy_messages:
            msg = copy.deepcopy(msg)
        try:
            reply = self.app(msg, self.contexts[msg.metadata.dst_node_id])
        except Exception as exc:  # noqa: BLE001 - Flower reports a raising ClientApp as Error
            return self._error(msg, f"{type(exc).__name__}: {exc}")
        finally:
            torch.set_num_threads(threads)
        reply.metadata.__dict__["_message_id"] = str(uuid4())
        return reply

    @staticmethod
    def _error(msg: Message, why: str) -> Message:
        reason = f"<class 'flwr.clientapp.ClientAppException'>:<'{why}'>"
        reply = Message(Error(code=CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=msg)
        reply.metadata.__dict__["_message_id"] = str(uuid4())
        return reply
