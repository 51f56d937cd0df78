"""Which SuperNode serves which client: ask every connected node once (a ``query`` message).

On the deployment engine a node is one client; its ``--node-config`` names the client id
(``client-id=K`` or ``partition-id=K``) and the ClientApp's query handler reports it. The same
query hands the node the run's resolved experiment config, which the ClientApp keeps in
``context.state`` (:mod:`fedsim.deployment.node_config`). The ServerApp waits until every client
of the plan has a node, then hands the mapping to the
:class:`~fedsim.transport.virtual_grid.VirtualGrid`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from fedsim import wire
from fedsim.deployment.node_config import config_items
from fedsim.errors import FedsimError
from fedsim.server.reply_checks import missing_protocol_key

log = logging.getLogger(__name__)
POLL_S = 1.0


class NodeDiscoveryError(FedsimError):
    """Not every client got a SuperNode in time, or two nodes claim the same client."""


def _ask(
    grid: Grid,
    node_ids: list[int],
    timeout: float,
    items: dict[str, str],
    streams: dict[int, str] | None = None,
) -> dict[int, int | str]:
    """Send a query (``items`` in its config) to each node; return node -> client id (or error)."""
    messages = [
        Message(
            content=RecordDict({wire.CONFIG: ConfigRecord(dict(items))}),
            dst_node_id=node,
            message_type=MessageType.QUERY,
        )
        for node in node_ids
    ]
    answers: dict[int, int | str] = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        node = int(reply.metadata.src_node_id)
        if reply.has_error():
            answers[node] = f"error: {reply.error.reason}"
            continue
        missing = missing_protocol_key(reply, wire.QUERY_REPLY_KEYS)
        if missing is not None:
            raise NodeDiscoveryError(_foreign(node, f"its query reply lacks '{missing}'"))
        version = reply.content[wire.CONFIG][wire.PROTOCOL]
        if version != wire.PROTOCOL_VERSION:
            raise NodeDiscoveryError(_foreign(node, f"it speaks version {version!r}"))
        answer = reply.content[wire.CONFIG]
        answers[node] = int(answer[wire.CLIENT_ID])
        if streams is not None and wire.NODE_STREAM in answer:
            streams[node] = str(answer[wire.NODE_STREAM])
    return answers


def send_config(grid: Grid, node_ids: list[int], cfg: Mapping[str, Any], timeout: float) -> None:
    """Hand the nodes an updated resolved config (after their streams were merged in)."""
    answers = _ask(grid, sorted(node_ids), timeout, config_items(cfg))
    bad = {n: a for n, a in answers.items() if not isinstance(a, int)}
    if len(answers) < len(node_ids) or bad:
        raise NodeDiscoveryError(f"SuperNodes did not take the updated config: {bad or 'timeout'}")


def _foreign(node: int, why: str) -> str:
    return (
        f"SuperNode {node} does not speak fedsim client protocol {wire.PROTOCOL_VERSION}: "
        f"{why} (docs/deployment.md, 'Foreign clients')"
    )


def discover_clients(
    grid: Grid,
    num_clients: int,
    timeout_s: float,
    cfg: Mapping[str, Any] | None = None,
    streams: dict[int, tuple[int, str]] | None = None,
) -> dict[int, int]:
    """Wait until clients ``0..num_clients-1`` each have a SuperNode; return client -> node.

    ``cfg`` (the resolved experiment config) is sent to every node with the query, once.
    ``streams``, when given, is filled with client id -> (node id, the task stream JSON the
    node reported, ``--node-config stream=PATH``) for the nodes that report one.

    Raises
    ------
    NodeDiscoveryError
        If two nodes claim one client id, or some clients still have no node after
        ``timeout_s`` seconds (the message lists them).
    """
    deadline = time.monotonic() + timeout_s
    items = config_items(cfg) if cfg is not None else {}
    answers: dict[int, int | str] = {}
    node_streams: dict[int, str] = {}
    while True:
        pending = sorted(set(int(n) for n in grid.get_node_ids()) - set(answers))
        remaining = deadline - time.monotonic()
        if pending and remaining > 0:
            got = _ask(grid, pending, timeout=remaining, items=items, streams=node_streams)
            answers.update(got)
            for node, answer in got.items():
                log.info("SuperNode %s serves client %s", node, answer)
        node_of_client: dict[int, int] = {}
        for node, cid in sorted(answers.items()):
            if not isinstance(cid, int):
                continue
            if cid in node_of_client:
                raise NodeDiscoveryError(
                    f"SuperNodes {node_of_client[cid]} and {node} both serve client {cid}: give "
                    "each SuperNode its own --node-config 'partition-id=K'"
                )
            node_of_client[cid] = node
        missing = [c for c in range(num_clients) if c not in node_of_client]
        if not missing:
            chosen = {c: node_of_client[c] for c in range(num_clients)}
            if streams is not None:
                streams.update(
                    {c: (n, node_streams[n]) for c, n in chosen.items() if n in node_streams}
                )
            return chosen
        if time.monotonic() >= deadline:
            bad = {n: a for n, a in answers.items() if not isinstance(a, int)}
            detail = f"; unusable nodes: {bad}" if bad else ""
            raise NodeDiscoveryError(
                f"after {timeout_s:.0f} s, {num_clients - len(missing)} of {num_clients} clients "
                f"have a SuperNode; missing client ids {missing[:20]} (start one SuperNode per "
                f"client with --node-config 'partition-id=K num-partitions={num_clients}'){detail}"
            )
        time.sleep(min(POLL_S, max(deadline - time.monotonic(), 0)))
