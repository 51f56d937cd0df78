"""The simulation's Grid woken by the engine (fedsim.transport.signalled_grid)."""

from __future__ import annotations

import threading
import time

from fedsim.transport import engine_signals
from fedsim.transport.signalled_grid import SignalledGrid


class Reply:
    def __init__(self, reply_to: str) -> None:
        self.metadata = type("Meta", (), {"reply_to_message_id": reply_to})()


class SlowEngine:
    """An inner Grid whose replies are stored by another thread after ``delay`` seconds."""

    def __init__(self, delay: float, signal: bool = True, answer: int | None = None) -> None:
        self.delay, self.signal, self.answer = delay, signal, answer
        self.stored: list[Reply] = []
        self.pulls = 0
        self.lock = threading.Lock()

    def push_messages(self, messages):
        ids = [f"m{i}" for i, _ in enumerate(messages)]
        answered = ids if self.answer is None else ids[: self.answer]

        def engine() -> None:
            time.sleep(self.delay)
            with self.lock:
                self.stored += [Reply(i) for i in answered]
            if self.signal:
                engine_signals.REPLIED.set()  # what engine_poll's reply thread does

        threading.Thread(target=engine, daemon=True).start()
        return ids

    def pull_messages(self, message_ids):
        self.pulls += 1
        with self.lock:
            got = [r for r in self.stored if r.metadata.reply_to_message_id in message_ids]
            self.stored = [r for r in self.stored if r not in got]
        return got


def _messages(n: int) -> list[object]:
    return [object() for _ in range(n)]  # the inner Grid only counts them


def test_a_push_wakes_the_engine_and_a_stored_reply_wakes_the_wait():
    engine_signals.PUSHED.clear()
    inner = SlowEngine(delay=0.3)
    t0 = time.monotonic()
    replies = SignalledGrid(inner, poll_s=30.0).send_and_receive(_messages(3))
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["m0", "m1", "m2"]
    assert engine_signals.PUSHED.is_set()
    # woken by the stored reply, not by its 30 s poll: one pull before, one after
    assert inner.pulls <= 3 and time.monotonic() - t0 < 15, inner.pulls


def test_without_the_signal_it_still_polls_every_10_ms():
    inner = SlowEngine(delay=0.2, signal=False)
    replies = SignalledGrid(inner).send_and_receive(_messages(2))
    assert len(replies) == 2 and inner.pulls >= 5


def test_the_timeout_returns_the_replies_that_arrived():
    inner = SlowEngine(delay=0.05, answer=1)
    replies = SignalledGrid(inner).send_and_receive(_messages(3), timeout=0.4)
    assert [r.metadata.reply_to_message_id for r in replies] == ["m0"]
