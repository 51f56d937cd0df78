"""The deployment ServerApp's Grid with a short reply poll.

Flower 1.42's deployment Grid (``flwr.superlink.grid.http_grid``) pushes a round's messages,
pulls once and then sleeps **3 s** between pulls, so every message round trip costs at least
3 s however fast the clients answer. :class:`PollingGrid` wraps the Grid Flower gives the
ServerApp and implements ``send_and_receive`` from the Grid's own public ``push_messages`` /
``pull_messages`` with a short, growing interval (``POLL_MIN_S`` doubling up to
``POLL_MAX_S``): a reply is seen within ~0.1 s of reaching the SuperLink. Everything else is
delegated unchanged; the semantics (all replies, or those that came before ``timeout``) are
Flower's.

A reply is listed by the SuperLink before its objects (arrays) have all arrived, and Flower's
Grid then retries a missing object after 1 s: :func:`use_quick_reply_pulls` makes the Grid
retry after 20 ms instead (:mod:`fedsim.deployment.object_pull`; Flower 1.42's
``flwr.superlink.grid.http_grid``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from flwr.app import Message
from flwr.serverapp import Grid

from fedsim.transport.delegating_grid import DelegatingGrid

POLL_MIN_S = 0.05
POLL_MAX_S = 0.1


def use_quick_reply_pulls() -> None:
    """Make Flower's deployment Grid (this process) pull reply objects with short retries."""
    import flwr.superlink.grid.http_grid as http_grid

    from fedsim.deployment.object_pull import use_quick_pulls

    use_quick_pulls(http_grid)


class PollingGrid(DelegatingGrid):
    """Delegate to ``inner``; ``send_and_receive`` polls for replies every 0.05-0.1 s.

    Parameters
    ----------
    inner : flwr.serverapp.Grid
        The Grid Flower gave the ServerApp.
    poll_min_s, poll_max_s : float
        First and largest pause between two pulls (the pause doubles while nothing comes).
    """

    def __init__(
        self, inner: Grid, *, poll_min_s: float = POLL_MIN_S, poll_max_s: float = POLL_MAX_S
    ) -> None:
        if not 0 < poll_min_s <= poll_max_s:
            raise ValueError(f"need 0 < poll_min_s <= poll_max_s, got {poll_min_s}, {poll_max_s}")
        super().__init__(inner)
        self.poll_min_s = poll_min_s
        self.poll_max_s = poll_max_s

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push ``messages``; pull replies until all came or ``timeout`` seconds passed."""
        pending = set(self.inner.push_messages(messages))
        end = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        pause = self.poll_min_s
        while pending:
            got = list(self.inner.pull_messages(set(pending)))
            replies.extend(got)
            pending -= {m.metadata.reply_to_message_id for m in got}
            if not pending:
                break
            if got:
                pause = self.poll_min_s
            now = time.monotonic()
            if end is not None and now >= end:
                break
            wait = pause if end is None else min(pause, end - now)
            time.sleep(wait)
            pause = min(pause * 2, self.poll_max_s)
        return replies
