"""Hand the ServerApp's messages to Flower's simulation actors without the 0.1 s sweep wait.

Flower 1.42's simulation engine moves messages from its link state to the actors' queue in one
thread, ``flwr.server.superlink.fleet.vce.vce_api.add_messages_to_queue``: it asks the state
for one undelivered message per node, then waits 0.1 s, and again. A message the ServerApp
pushes therefore waits 0-100 ms (50 ms on average) before an actor can start on it, once per
exchange (train, and client evaluation when there is one) - a sizeable share of a steady
round of ~0.2-0.3 s in ``benchmarks/`` (issue 19).

:func:`install` replaces that function (``run_api`` looks it up as a module global when it
starts the thread) with :func:`add_messages_to_queue` below: the same calls to the link state,
the same messages in the same order into the same queue, but

* after a sweep that found messages it sweeps again at once (Flower's takes one message per
  node per 0.1 s, so a node with two messages waited 0.1 s for the second);
* after a sweep that found none it waits ``max(POLL_S, 2 x the sweep's own duration)``: 10 ms
  while sweeps are cheap (fedsim packs a cohort into a few messages on a few nodes), and never
  more CPU than Flower's when they are not (a sweep over many nodes scans every stored message
  per node: at 50 ms a sweep, both wait 0.1 s).

Which actor runs which message does not change a result (replies are sorted by client id,
each client's randomness is its own: DESIGN.md rules 4 and 7); the golden configs give
identical summaries with and without it. If a Flower release moves the function, nothing is
replaced and Flower's own loop runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from queue import Queue
from typing import Any

POLL_S = 0.01  # idle wait between sweeps while a sweep is cheap
_MARK = "_fedsim_fast_pickup"


def add_messages_to_queue(
    state: Any, queue: Queue, nodes_mapping: Mapping[int, Any], f_stop: threading.Event
) -> None:
    """Flower's loop (same signature): move undelivered messages of every node to ``queue``."""
    while not f_stop.is_set():
        t0 = time.perf_counter()
        found = False
        for node_id in nodes_mapping.keys():
            for msg in state.get_message_ins(node_id=node_id, limit=1):
                queue.put(msg)
                found = True
        if not found:
            f_stop.wait(max(POLL_S, 2.0 * (time.perf_counter() - t0)))


setattr(add_messages_to_queue, _MARK, True)


def install() -> bool:
    """Put :func:`add_messages_to_queue` in Flower's engine; True when it is (already) there."""
    try:
        from flwr.server.superlink.fleet.vce import vce_api
    except ImportError:  # pragma: no cover - a Flower release without this module
        return False
    current = getattr(vce_api, "add_messages_to_queue", None)
    if current is None:
        return False
    if not getattr(current, _MARK, False):
        vce_api.add_messages_to_queue = add_messages_to_queue
    return True
