"""Flower 1.42's SuperNode with short waits (for the long-lived ClientApp executor).

``flower-supernode`` 1.42 asks the SuperLink for a message, and when there is none sleeps a
fixed **3 s** (``flwr.supernode.start_client_internal``, main loop); after handing a message
to the ClientApp it checks for the reply every **0.5 s**; it pulls a message's objects from the
SuperLink with a first retry after **1 s**. Once the ClientApp itself is warm
(:mod:`fedsim.deployment.warm_clientapp`) these waits are most of a round: a message reaches
an idle node 1.5 s late on average, a reply leaves 0.25 s late, and a receive that looks
before the objects arrived waits 1 s.

This entry point runs Flower's own ``flower-supernode`` (same arguments, parser, state, node
authentication) with that one module's waits shortened:

* sleeps of 1 s or more (the idle poll) are capped at ``--idle-poll`` seconds (default 0.25):
  the node polls the SuperLink's Fleet API up to 4 times a second while idle instead of once
  every 3 s - one small HTTP request each, negligible for a handful of nodes; raise it for
  hundreds;
* shorter sleeps (waiting for the ClientApp's reply in the node's own state, a local lookup)
  are capped at ``--reply-poll`` seconds (default 0.02);
* object pulls retry after 20 ms instead of 1 s (:mod:`fedsim.deployment.object_pull`).

Nothing else changes. It replaces the module's ``time`` name with a :class:`CappedClock` and its
``pull_objects`` name (Flower 1.42 internals; a Flower upgrade must re-check them).

Usage: ``python -m fedsim.deployment.fast_supernode [--idle-poll S] [--reply-poll S]
[flower-supernode ARGS]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

IDLE_POLL_S = 0.25
REPLY_POLL_S = 0.02
IDLE_SLEEP_S = 1.0  # Flower's sleeps this long or longer are its idle poll (3 s in 1.42)


class CappedClock:
    """Stands in for the ``time`` module: ``sleep`` is capped.

    Parameters
    ----------
    cap : float
        The longest idle sleep (a requested sleep of :data:`IDLE_SLEEP_S` or more), seconds > 0.
    short_cap : float, optional
        The longest of the shorter sleeps (Flower's 0.5 s local waits); default ``cap``.
    """

    def __init__(self, cap: float, short_cap: float | None = None) -> None:
        if not cap > 0:
            raise ValueError(f"--idle-poll must be > 0 seconds, got {cap}")
        short_cap = cap if short_cap is None else short_cap
        if not short_cap > 0:
            raise ValueError(f"--reply-poll must be > 0 seconds, got {short_cap}")
        self.cap = float(cap)
        self.short_cap = float(short_cap)

    def sleep(self, seconds: float) -> None:
        """Sleep ``min(seconds, cap)`` (idle waits) or ``min(seconds, short_cap)`` (others)."""
        seconds = float(seconds)
        time.sleep(min(seconds, self.cap if seconds >= IDLE_SLEEP_S else self.short_cap))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _seconds(args: list[str], i: int, flag: str) -> float:
    if i + 1 >= len(args):
        raise ValueError(f"{flag} needs a number of seconds")
    try:
        return float(args[i + 1])
    except ValueError:
        raise ValueError(f"{flag} must be seconds, got {args[i + 1]!r}") from None


def split_polls(argv: Sequence[str]) -> tuple[float, float, list[str]]:
    """Take ``--idle-poll S`` and ``--reply-poll S`` out of ``argv``; the rest is Flower's."""
    rest: list[str] = []
    found = {"--idle-poll": IDLE_POLL_S, "--reply-poll": REPLY_POLL_S}
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] in found:
            found[args[i]] = _seconds(args, i, args[i])
            i += 2
            continue
        rest.append(args[i])
        i += 1
    return found["--idle-poll"], found["--reply-poll"], rest


def split_idle_poll(argv: Sequence[str]) -> tuple[float, list[str]]:
    """Take ``--idle-poll S`` (and ``--reply-poll S``) out of ``argv``; the rest is Flower's."""
    cap, _, rest = split_polls(argv)
    return cap, rest


def main(argv: Sequence[str] | None = None) -> None:
    """Patch the SuperNode loop's clock and object pulls, then hand over to ``flower-supernode``."""
    cap, short_cap, rest = split_polls(sys.argv[1:] if argv is None else argv)
    clock = CappedClock(cap, short_cap)
    import flwr.supernode.start_client_internal as loop
    from flwr.supernode.cli.flower_supernode import flower_supernode

    from fedsim.deployment.object_pull import use_quick_pulls

    loop.time = clock  # type: ignore[assignment] - the module's only use is time.sleep
    use_quick_pulls(loop)
    sys.argv = ["flower-supernode", *rest]
    flower_supernode()


if __name__ == "__main__":
    main()
