"""A Grid that addresses *virtual clients* and carries them over fewer Flower nodes.

Strategies see client ids as node ids: :meth:`VirtualGrid.get_node_ids` returns the round's
cohort and messages are addressed to client ids. On sending, each message is re-addressed to a
real Flower node, names its client id in the config and, in simulation, carries the client's
state from the server's :class:`~fedsim.transport.client_store.ClientStore`; replies have the state
stripped back into the store and come back sorted by client id, so the order in which Ray
returns them cannot change an aggregate (DESIGN.md rules 4 and 7).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from flwr.app import ConfigRecord, Error, Message, RecordDict
from flwr.serverapp import Grid

from fedsim import wire
from fedsim.transport import packing
from fedsim.transport.client_store import ClientStore
from fedsim.transport.delegating_grid import DelegatingGrid

ERROR_CODE = 2  # flwr ErrorCode.CLIENT_APP_RAISED_EXCEPTION


def _cid(msg: Message) -> int:
    """The client id a strategy message is addressed to."""
    return int(msg.metadata.dst_node_id)


class VirtualGrid(DelegatingGrid):
    """Wrap a real Grid; map client ids to nodes.

    Parameters
    ----------
    inner : flwr.serverapp.Grid
        The Grid Flower gave the ServerApp.
    store : ClientStore
        Server-kept client state (used when ``state_in_message``).
    state_in_message : bool
        True in simulation (state travels with messages); False on the deployment engine,
        where a node is one client and keeps its state in ``context.state``.
    node_of_client : dict[int, int], optional
        Fixed client -> node mapping (deployment). Without it, the i-th client of a
        send (sorted by id) goes to the i-th registered node, round-robin.
    max_messages : int, optional
        Simulation only: pack the clients of one send into at most this many Flower
        messages (:mod:`fedsim.transport.packing`). None sends one message per client.
    """

    def __init__(
        self,
        inner: Grid,
        store: ClientStore,
        *,
        state_in_message: bool = True,
        node_of_client: dict[int, int] | None = None,
        max_messages: int | None = None,
    ) -> None:
        super().__init__(inner)
        self.store = store
        self.state_in_message = state_in_message
        self.node_of_client = node_of_client
        self.max_messages = max_messages
        self._client_of: dict[int, int] = {}
        self._cohort: list[int] = []
        self._extras: dict[int, dict] = {}
        self._shared: dict = {}
        self._nodes: list[int] | None = None
        self._late: set[str] = set()
        self.missing: list[int] = []
        self.late_dropped = 0

    # -- cohort -------------------------------------------------------------------------
    def set_cohort(
        self,
        client_ids: Iterable[int],
        extras: dict[int, dict] | None = None,
        shared_records: dict | None = None,
    ) -> None:
        """Set the clients strategies may address next, with optional per-client config items.

        ``extras`` (client id -> items) are merged into that client's ConfigRecord on sending
        (e.g. an injected fault, a curriculum's pacing for that client). ``shared_records``
        (record key -> record, e.g. ``fedsim.lr-arrays``) are added to every message.
        """
        self._cohort = sorted(int(c) for c in client_ids)
        self._extras = {int(k): dict(v) for k, v in (extras or {}).items()}
        self._shared = dict(shared_records or {})

    def get_node_ids(self) -> Iterable[int]:
        """Return the current cohort's client ids (what strategies sample from)."""
        return list(self._cohort)

    def real_node_ids(self) -> list[int]:
        """Return the sorted ids of the Flower nodes (cached)."""
        if self._nodes is None:
            self._nodes = sorted(self.inner.get_node_ids())
        return self._nodes

    # -- the virtual-client path --------------------------------------------------------
    def node_for(self, client_id: int, position: int) -> int:
        """The Flower node a send's ``position``-th client (sorted by id) goes to."""
        if self.node_of_client is not None:
            if client_id not in self.node_of_client:
                raise KeyError(f"client {client_id} has no connected SuperNode")
            return self.node_of_client[client_id]
        nodes = self.real_node_ids()
        return nodes[position % len(nodes)]

    def client_content(self, msg: Message) -> RecordDict:
        """The content one client receives: config with its id and extras, plus its state."""
        cid = int(msg.metadata.dst_node_id)
        records = dict(msg.content.items())
        config = ConfigRecord(dict(records.get(wire.CONFIG, ConfigRecord())))
        config[wire.CLIENT_ID] = cid
        config[wire.STATE_IN_MESSAGE] = self.state_in_message
        for key, value in self._extras.get(cid, {}).items():
            config[key] = value
        records[wire.CONFIG] = config
        records.update(self._shared)
        if self.state_in_message:
            state_cfg, state_arrays = self.store.get(cid)
            if state_cfg is not None:
                records[wire.CLIENT_STATE] = state_cfg
            if state_arrays is not None:
                records[wire.CLIENT_ARRAYS] = state_arrays
        return RecordDict(records)

    def _absorb_state(self, cid: int, content: RecordDict) -> None:
        """Move the client state out of a reply (into the store, in simulation)."""
        state_cfg = content.config_records.get(wire.CLIENT_STATE)
        state_arr = content.array_records.get(wire.CLIENT_ARRAYS)
        if state_cfg is not None:
            del content[wire.CLIENT_STATE]
        if state_arr is not None:
            del content[wire.CLIENT_ARRAYS]
        if self.state_in_message:
            self.store.put(cid, state_cfg, state_arr)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> list[Message]:
        """Send to virtual clients; return one reply per answering client, sorted by client id.

        With ``max_messages`` set (simulation), clients are packed into at most that many
        Flower messages. Clients whose reply did not arrive before ``timeout`` are listed in
        :attr:`missing`; a reply that arrives later is pulled at the next send and dropped
        (counted in :attr:`late_dropped`), never returned, so a stale update can never be
        aggregated in a later round.

        An injected straggler's delay is simulated (:meth:`misses_deadline`): one whose
        delay reaches ``timeout`` is not sent at all, is listed in :attr:`missing` and its
        late reply counts as dropped; one within the deadline is sent like any other client.
        Whether a straggler makes the deadline is therefore a function of the config and the
        seed, never of wall-clock time, and a resumed run equals an uninterrupted one.
        """
        self._drop_late()
        ordered = sorted(messages, key=lambda m: int(m.metadata.dst_node_id))
        self._client_of = {}
        late = {_cid(m) for m in ordered if self.misses_deadline(_cid(m), timeout)}
        units = self._units([m for m in ordered if _cid(m) not in late])
        outgoing = [msg for msg, _ in units]
        replies = list(self.inner.send_and_receive(outgoing, timeout=timeout)) if outgoing else []
        self.late_dropped += len(late)
        groups = {msg.metadata.message_id: group for msg, group in units if msg.metadata.message_id}
        replies = [r for r in replies if r.metadata.reply_to_message_id in groups]
        self._late |= set(groups) - {r.metadata.reply_to_message_id for r in replies}
        out: list[Message] = []
        for reply in replies:
            out += self._split(reply, groups[reply.metadata.reply_to_message_id])
        answered = set(self._client_of.values())
        self.missing = sorted({_cid(m) for m in ordered} - answered)
        return sorted(out, key=self.client_of)

    def misses_deadline(self, client_id: int, timeout: float | None) -> bool:
        """True when the client is an injected straggler whose simulated delay >= ``timeout``."""
        delay = self._extras.get(int(client_id), {}).get(wire.FAULT_DELAY)
        return delay is not None and timeout is not None and float(delay) >= float(timeout)

    def _units(self, ordered: list[Message]) -> list[tuple[Message, list[Message]]]:
        """Outgoing Flower messages, each with the strategy messages it carries."""
        packed = (
            self.state_in_message
            and self.max_messages is not None
            and len(ordered) > self.max_messages
        )
        if not packed:
            units = [
                (
                    Message(
                        content=self.client_content(m),
                        dst_node_id=self.node_for(_cid(m), i),
                        message_type=m.metadata.message_type,
                        group_id=m.metadata.group_id,
                    ),
                    [m],
                )
                for i, m in enumerate(ordered)
            ]
        else:
            size = math.ceil(len(ordered) / self.max_messages)
            nodes = self.real_node_ids()
            units = []
            for j, start in enumerate(range(0, len(ordered), size)):
                group = ordered[start : start + size]
                msg = Message(
                    content=packing.pack([self.client_content(m) for m in group]),
                    dst_node_id=nodes[j % len(nodes)],
                    message_type=group[0].metadata.message_type,
                    group_id=group[0].metadata.group_id,
                )
                units.append((msg, group))
        return units

    def _split(self, reply: Message, group: list[Message]) -> list[Message]:
        """Per-client replies of one Flower reply (a pack, or a single client's reply)."""
        if len(group) == 1 and (reply.has_error() or not packing.is_packed(reply.content)):
            cid = _cid(group[0])
            self._client_of[id(reply)] = cid
            if not reply.has_error():
                self._absorb_state(cid, reply.content)
            return [reply]
        if reply.has_error():
            parts: list[RecordDict | str] = [reply.error.reason] * len(group)
        else:
            parts = [packing.reply_error(p) or p for p in packing.unpack(reply.content)]
        out = []
        for original, part in zip(group, parts, strict=True):
            cid = _cid(original)
            if isinstance(part, str):
                client_reply = Message(Error(code=ERROR_CODE, reason=part), reply_to=original)
            else:
                self._absorb_state(cid, part)
                client_reply = Message(part, reply_to=original)
            self._client_of[id(client_reply)] = cid
            out.append(client_reply)
        return out

    def warm_up(self) -> None:
        """Send a query to every Flower node and wait (no deadline) for all replies.

        Run once before a run with a round deadline, so the first round's deadline does not
        also have to cover the engine's start-up (Ray actors importing torch and Flower,
        loading the data and building the plan).
        """
        from flwr.app import MessageType

        nodes = set(self.node_of_client.values()) if self.node_of_client else self.real_node_ids()
        msgs = [
            Message(
                content=RecordDict({wire.CONFIG: ConfigRecord({wire.WARM_UP: True})}),
                dst_node_id=node,
                message_type=MessageType.QUERY,
            )
            for node in sorted(nodes)
        ]
        list(self.inner.send_and_receive(msgs, timeout=None))

    def _drop_late(self) -> None:
        """Pull (and so delete) replies to earlier sends that missed their deadline."""
        if not self._late:
            return
        late = list(self.inner.pull_messages(set(self._late)))
        self._late -= {m.metadata.reply_to_message_id for m in late}
        self.late_dropped += sum(1 for m in late if not m.has_error())

    def client_of(self, reply: Message) -> int:
        """Return the client id a reply of the last send came from."""
        return self._client_of[id(reply)]

    # -- checkpointing (fedsim.stateful.Stateful) ----------------------------------------
    def state_dict(self) -> dict:
        """Deadline bookkeeping: late replies dropped so far.

        Ids of this engine's messages still awaited are not state: a resumed run starts a
        new engine, and the replies they stood for died with the old one.
        """
        return {"late_dropped": int(self.late_dropped)}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.late_dropped = int(state.get("late_dropped", 0))
