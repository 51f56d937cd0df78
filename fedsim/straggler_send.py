"""One deadline-bounded round trip in which injected stragglers are sent last.

On a simulation engine a sleeping straggler occupies one of the few shared executors (Ray
actors); pushed together with the healthy clients it would steal their slot and make them
miss the deadline too. So the healthy messages are pushed first and the stragglers' once
those are answered; if the deadline passes first, the stragglers are not sent at all (their
replies would be late anyway) and are reported as missing. A straggler sleeps until
``fedsim.fault-not-before`` (first push + its delay), so its reply arrives at the same
wall-clock time as if it had been sent with the others, and the executor is freed right after.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from flwr.app import Message
from flwr.serverapp import Grid

PULL_INTERVAL_S = 0.1


def send_stragglers_last(
    grid: Grid,
    healthy: Sequence[Message],
    stragglers: Sequence[Message],
    timeout: float | None,
) -> list[Message]:
    """Push ``healthy``, then ``stragglers``; pull replies until all arrive or ``timeout``."""
    end = None if timeout is None else time.time() + timeout
    pending = set(grid.push_messages(list(healthy)))
    waiting = list(stragglers)
    replies: list[Message] = []
    while True:
        got = list(grid.pull_messages(set(pending))) if pending else []
        replies += got
        pending -= {m.metadata.reply_to_message_id for m in got}
        expired = end is not None and time.time() >= end
        if waiting and not pending and not expired:
            pending |= set(grid.push_messages(waiting))
            waiting = []
        if not pending or expired:
            return replies
        time.sleep(PULL_INTERVAL_S)
