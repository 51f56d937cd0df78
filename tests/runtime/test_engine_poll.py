"""fedsim's message pick-up for Flower's simulation engine (fedsim.runtime.engine_poll)."""

from __future__ import annotations

import threading
from queue import Queue

from fedsim.runtime import engine_poll


class State:
    """The link state's ``get_message_ins`` contract: undelivered messages of a node, in order."""

    def __init__(self, messages: list[tuple[int, str]]) -> None:
        self.pending = list(messages)
        self.calls = 0

    def get_message_ins(self, node_id: int, limit: int | None) -> list[str]:
        self.calls += 1
        mine = [m for m in self.pending if m[0] == node_id][: limit or None]
        for m in mine:
            self.pending.remove(m)
        return [text for _, text in mine]


class CountingStop(threading.Event):
    """The engine's stop event; :attr:`pushed` records every idle wait and sets the stop
    after ``stop_after`` of them."""

    def __init__(self, stop_after: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.stop_after = stop_after
        self.pushed = CountingPush(self)


class CountingPush(threading.Event):
    def __init__(self, stop: CountingStop) -> None:
        super().__init__()
        self.stop = stop

    def wait(self, timeout: float | None = None) -> bool:
        self.stop.waits.append(float(timeout or 0.0))
        if len(self.stop.waits) >= self.stop.stop_after:
            self.stop.set()
        return False


def test_every_message_is_queued_in_order_without_a_wait_between_busy_sweeps():
    state = State([(1, "a1"), (2, "b1"), (1, "a2"), (1, "a3")])
    queue: Queue = Queue()
    stop = CountingStop(stop_after=1)
    engine_poll.add_messages_to_queue(state, queue, {1: 0, 2: 1}, stop, stop.pushed)
    got = [queue.get_nowait() for _ in range(queue.qsize())]
    # same per-sweep order as Flower's loop (one message per node per sweep, nodes in order)
    assert got == ["a1", "b1", "a2", "a3"]
    # three busy sweeps back to back, then one idle sweep and its wait (Flower: 4 x 0.1 s)
    assert len(stop.waits) == 1 and state.calls == 4 * 2


def test_idle_wait_is_short_when_sweeps_are_cheap():
    stop = CountingStop(stop_after=3)
    engine_poll.add_messages_to_queue(State([]), Queue(), {1: 0}, stop, stop.pushed)
    assert stop.waits and all(engine_poll.POLL_S <= w < 0.1 for w in stop.waits)


def test_idle_wait_grows_with_an_expensive_sweep():
    class Slow(State):
        def get_message_ins(self, node_id, limit):
            import time

            time.sleep(0.02)  # a sweep over many nodes and stored messages
            return super().get_message_ins(node_id, limit)

    stop = CountingStop(stop_after=1)
    engine_poll.add_messages_to_queue(Slow([]), Queue(), {1: 0, 2: 1}, stop, stop.pushed)
    assert stop.waits[0] >= 2 * 0.04  # twice the sweep's own duration: CPU <= Flower's


def test_install_replaces_flowers_functions_once():
    from flwr.server.superlink.fleet.vce import vce_api

    originals = vce_api.add_messages_to_queue, vce_api.put_message_into_state
    try:
        assert engine_poll.install() and engine_poll.install()
        assert vce_api.add_messages_to_queue is engine_poll.add_messages_to_queue
        assert vce_api.put_message_into_state is engine_poll.put_message_into_state
    finally:
        vce_api.add_messages_to_queue, vce_api.put_message_into_state = originals


class Replies:
    def __init__(self) -> None:
        self.stored: list[str] = []

    def store_message_res(self, message: str) -> None:
        self.stored.append(message)


def test_the_engine_threads_end_as_soon_as_the_stop_event_is_set():
    """Flower's worker and reply threads wait 1 s on their queues; ours return at once."""
    import time
    from queue import Empty

    stop = threading.Event()
    work: Queue = Queue()
    replies: Queue = Queue()
    store = Replies()
    ended: dict[str, float] = {}

    def worker() -> None:  # Flower's worker loop, as vce_api.worker runs it
        while not stop.is_set():
            try:
                replies.put(work.get(timeout=1.0).upper())
            except Empty:
                pass
        ended["worker"] = time.monotonic()

    def run(name: str, fn, *args) -> threading.Thread:
        def body() -> None:
            fn(*args)
            ended[name] = time.monotonic()

        th = threading.Thread(target=body)
        th.start()
        return th

    state = State([(1, "a"), (2, "b")])
    nodes = {1: 0, 2: 1}
    threads = [
        run("extractor", engine_poll.add_messages_to_queue, state, work, nodes, stop),
        run("injector", engine_poll.put_message_into_state, store, replies, stop),
    ]
    threads += [threading.Thread(target=worker) for _ in range(2)]
    for th in threads[2:]:
        th.start()
    deadline = time.monotonic() + 5
    while len(store.stored) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert sorted(store.stored) == ["A", "B"]  # messages still flow through both queues
    time.sleep(0.05)  # every thread is now blocked in a 1 s get
    stopped = time.monotonic()
    stop.set()
    for th in threads:
        th.join(timeout=5)
    assert len(ended) == 3 and all(t - stopped < 0.5 for t in ended.values()), ended


def test_a_stop_aware_queue_still_hands_out_queued_items_and_keeps_timeouts():
    import time
    from queue import Empty

    import pytest

    stop = threading.Event()
    q: Queue = Queue()
    engine_poll._stop_aware(q, stop)
    q.put(1)
    q.put(2)
    assert q.get(timeout=1.0) == 1
    t0 = time.monotonic()
    assert q.get(timeout=1.0) == 2
    with pytest.raises(Empty):
        q.get(timeout=0.05)
    assert time.monotonic() - t0 >= 0.05
    with pytest.raises(Empty):
        q.get(block=False)
    q.put(3)
    stop.set()
    assert q.get(timeout=1.0) == 3  # queued before the stop: still delivered
    t0 = time.monotonic()
    with pytest.raises(Empty):
        q.get(timeout=1.0)  # stopped and empty: at once
    assert time.monotonic() - t0 < 0.5


def test_a_push_wakes_the_idle_message_thread(monkeypatch):
    """With the idle wait at 30 s, only the Grid's PUSHED signal can deliver within seconds."""
    monkeypatch.setattr(engine_poll, "POLL_S", 30.0)
    state, work, stop, pushed = State([]), Queue(), threading.Event(), threading.Event()
    th = threading.Thread(
        target=engine_poll.add_messages_to_queue, args=(state, work, {1: 0}, stop, pushed)
    )
    th.start()
    try:
        import time

        time.sleep(0.1)  # idle: waiting on ``pushed``
        state.pending.append((1, "late"))
        pushed.set()  # what SignalledGrid.push_messages does after storing
        assert work.get(timeout=10) == "late"
    finally:
        stop.set()
        pushed.set()
        th.join(timeout=5)
