"""Flower 1.42's SuperNode with a shorter idle poll (for the long-lived ClientApp executor).

``flower-supernode`` 1.42 asks the SuperLink for a message, and when there is none sleeps a
fixed **3 s** (``flwr.supernode.start_client_internal``, main loop); after handing a message
to the ClientApp it checks for the reply every 0.5 s. Once the ClientApp itself is warm
(:mod:`fedsim.deployment.warm_clientapp`) these waits are most of a round: a message reaches
an idle node 1.5 s late on average, and every round has at least one idle gap (the server
aggregates and evaluates) - about 3-6 s per round on loopback whatever the model.

This entry point runs Flower's own ``flower-supernode`` (same arguments, parser, state, node
authentication) with the sleeps of that one module capped at ``--idle-poll`` seconds (default
0.25): the node polls the SuperLink's Fleet API up to 4 times a second while idle instead of
once every 3 s - one small HTTP request each, negligible for a handful of nodes; raise it for
hundreds. Nothing else changes. It replaces the module's ``time`` name with a
:class:`CappedClock` (Flower 1.42 internals; a Flower upgrade must re-check them).

Usage: ``python -m fedsim.deployment.fast_supernode [--idle-poll S] [flower-supernode ARGS]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

IDLE_POLL_S = 0.25


class CappedClock:
    """Stands in for the ``time`` module: ``sleep`` is capped at ``cap`` seconds.

    Parameters
    ----------
    cap : float
        The longest single sleep, in seconds (> 0).
    """

    def __init__(self, cap: float) -> None:
        if not cap > 0:
            raise ValueError(f"--idle-poll must be > 0 seconds, got {cap}")
        self.cap = float(cap)

    def sleep(self, seconds: float) -> None:
        """Sleep ``min(seconds, cap)``."""
        time.sleep(min(float(seconds), self.cap))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def split_idle_poll(argv: Sequence[str]) -> tuple[float, list[str]]:
    """Take ``--idle-poll S`` out of ``argv``; the rest is ``flower-supernode``'s."""
    rest, cap = [], IDLE_POLL_S
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] == "--idle-poll":
            if i + 1 >= len(args):
                raise ValueError("--idle-poll needs a number of seconds")
            try:
                cap = float(args[i + 1])
            except ValueError:
                raise ValueError(f"--idle-poll must be seconds, got {args[i + 1]!r}") from None
            i += 2
            continue
        rest.append(args[i])
        i += 1
    return cap, rest


def main(argv: Sequence[str] | None = None) -> None:
    """Patch the SuperNode loop's clock, then hand over to ``flower-supernode``."""
    cap, rest = split_idle_poll(sys.argv[1:] if argv is None else argv)
    clock = CappedClock(cap)
    import flwr.supernode.start_client_internal as loop
    from flwr.supernode.cli.flower_supernode import flower_supernode

    loop.time = clock  # type: ignore[assignment] - the module's only use is time.sleep
    sys.argv = ["flower-supernode", *rest]
    flower_supernode()


if __name__ == "__main__":
    main()
