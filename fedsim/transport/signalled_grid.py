"""The simulation's Grid without its reply poll: woken by the engine when a reply is stored.

Flower's ``InMemoryGrid.send_and_receive`` pushes the messages, then pulls and sleeps
``pull_interval`` (0.1 s by default; fedsim set 10 ms) until every reply is in; the engine's
message thread likewise looked for new messages every 10 ms. With both in one process,
fedsim's engine loops (:mod:`fedsim.runtime.engine_poll`) and this Grid signal each other
instead (:mod:`fedsim.transport.engine_signals`): a push sets ``PUSHED``, a stored reply sets
``REPLIED``, and each side waits on the other's event with the former 10 ms poll as the
timeout - so nothing waits longer than before, and an exchange no longer pays up to 10 ms at
each end (~5 ms on average at each, every round). The simulation session wraps Flower's Grid
in this one; the reply-poll policy lives here alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from flwr.app import Message

from fedsim.transport import engine_signals
from fedsim.transport.delegating_grid import DelegatingGrid

PULL_INTERVAL_S = 0.01  # the longest wait between two pulls (a missed wake-up)


class SignalledGrid(DelegatingGrid):
    """The simulation engine's Grid; pushes and reply waits signal :mod:`engine_poll`.

    Parameters
    ----------
    inner : flwr.serverapp.Grid
        Flower's ``InMemoryGrid``.
    poll_s : float
        The longest wait between two pulls when no reply signal comes.
    """

    def __init__(self, inner, poll_s: float = PULL_INTERVAL_S) -> None:
        super().__init__(inner)
        self.poll_s = poll_s

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Store the messages, then wake the engine's message thread."""
        ids = list(self.inner.push_messages(messages))
        engine_signals.PUSHED.set()
        return ids

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Flower's ``send_and_receive`` (push, pull until all replies or ``timeout``)."""
        pending = set(self.push_messages(messages))
        end = None if timeout is None else time.time() + timeout
        replies: list[Message] = []
        while end is None or time.time() < end:
            engine_signals.REPLIED.clear()  # before the pull: a later reply wakes the wait
            got = list(self.inner.pull_messages(pending))
            replies += got
            pending -= {m.metadata.reply_to_message_id for m in got}
            if not pending:
                break
            wait = self.poll_s if end is None else min(self.poll_s, end - time.time())
            if wait > 0:
                engine_signals.REPLIED.wait(wait)
        return replies
