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

Two events remove the remaining polls of an exchange in the same process
(:mod:`fedsim.transport.engine_signals`; :class:`fedsim.transport.signalled_grid.SignalledGrid`
is the ServerApp's side): the Grid sets ``PUSHED`` after it stores messages, and the message
thread waits on it instead of sleeping (the same wait as a timeout, so a missed wake-up costs
what it did before); the reply thread sets ``REPLIED`` after it stores a reply, and the Grid
waits on it between its pulls instead of sleeping 10 ms. Each side clears its event *before*
it looks, so a message or reply stored before the event is set is always found by the next
look.

It also ends the engine at once when the ServerApp returns. Flower's worker threads and its
reply thread wait on their queues with 1 s timeouts and look at the stop event in between, so
the engine's teardown began up to 1 s after the last round (every run, every sweep).
:func:`install` also replaces the reply thread's function
(:func:`put_message_into_state`, same calls), and both loops give their queue a ``get`` that
returns ``Empty`` as soon as the stop event is set and the queue is woken; the message thread
wakes both queues when it sees the event (:func:`_wake_on_stop`). A message already queued is
still handed out first.

Which actor runs which message does not change a result (replies are sorted by client id,
each client's randomness is its own: DESIGN.md rules 4 and 7); the golden configs give
identical summaries with and without it. If a Flower release moves the function, nothing is
replaced and Flower's own loop runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from queue import Empty, Queue
from typing import Any

from fedsim.transport.engine_signals import PUSHED, REPLIED

POLL_S = 0.01  # idle wait between sweeps while a sweep is cheap
_MARK = "_fedsim_fast_pickup"
_WAKE = "_fedsim_stop_aware_queues"  # attribute of the engine's stop event
_WAKE_LOCK = threading.Lock()


def add_messages_to_queue(
    state: Any,
    queue: Queue,
    nodes_mapping: Mapping[int, Any],
    f_stop: threading.Event,
    pushed: threading.Event = PUSHED,
) -> None:
    """Flower's loop (same signature): move undelivered messages of every node to ``queue``.

    Between idle sweeps it waits on ``pushed`` (``engine_signals.PUSHED``), which the
    ServerApp's Grid sets after it stores messages.
    """
    _stop_aware(queue, f_stop)  # the worker threads' queue
    try:
        while not f_stop.is_set():
            pushed.clear()  # before the sweep: a push after this is seen now or wakes us
            t0 = time.perf_counter()
            found = False
            for node_id in nodes_mapping.keys():
                for msg in state.get_message_ins(node_id=node_id, limit=1):
                    queue.put(msg)
                    found = True
            if not found:
                pushed.wait(max(POLL_S, 2.0 * (time.perf_counter() - t0)))
    finally:
        _wake_on_stop(f_stop)


def put_message_into_state(state: Any, queue: Queue, f_stop: threading.Event) -> None:
    """Flower's reply loop (same signature and calls): store the actors' replies in ``state``."""
    _stop_aware(queue, f_stop)
    while not f_stop.is_set():
        try:
            state.store_message_res(queue.get(timeout=1.0))
        except Empty:
            continue
        REPLIED.set()


for _fn in (add_messages_to_queue, put_message_into_state):
    setattr(_fn, _MARK, True)


def _stop_aware(queue: Queue, f_stop: threading.Event) -> None:
    """Give ``queue`` a ``get`` that raises ``Empty`` once ``f_stop`` is set and it is woken.

    Otherwise ``Queue.get``: items first, the caller's timeout kept. The queue is registered
    on ``f_stop`` for :func:`_wake_on_stop`.
    """

    def get(block: bool = True, timeout: float | None = None) -> Any:
        with queue.not_empty:
            end = None if timeout is None else time.monotonic() + timeout
            while not queue._qsize():
                remaining = None if end is None else end - time.monotonic()
                if f_stop.is_set() or not block or (remaining is not None and remaining <= 0):
                    raise Empty
                queue.not_empty.wait(remaining)
            item = queue._get()
            queue.not_full.notify()
            return item

    queue.get = get  # type: ignore[method-assign]
    with _WAKE_LOCK:
        queues = getattr(f_stop, _WAKE, None)
        if queues is None:
            queues = []
            setattr(f_stop, _WAKE, queues)
        queues.append(queue)
    if f_stop.is_set():  # stopped before registration: nobody would wake it
        _wake_on_stop(f_stop)


def _wake_on_stop(f_stop: threading.Event) -> None:
    """Wake every thread waiting in a ``get`` of a queue registered on ``f_stop``."""
    with _WAKE_LOCK:
        queues = list(getattr(f_stop, _WAKE, ()))
    for queue in queues:
        with queue.not_empty:
            queue.not_empty.notify_all()


def install() -> bool:
    """Put this module's two loops in Flower's engine; True when they are (already) there.

    Both or neither: the reply thread is woken by the message thread.
    """
    try:
        from flwr.server.superlink.fleet.vce import vce_api
    except ImportError:  # pragma: no cover - a Flower release without this module
        return False
    ours = {"add_messages_to_queue": add_messages_to_queue,
            "put_message_into_state": put_message_into_state}  # fmt: skip
    if any(getattr(vce_api, name, None) is None for name in ours):
        return False
    for name, fn in ours.items():
        if not getattr(getattr(vce_api, name), _MARK, False):
            setattr(vce_api, name, fn)
    return True
