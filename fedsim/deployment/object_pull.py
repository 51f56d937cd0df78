"""A shorter first retry for Flower's object pulls (deployment hops on a fast network).

Flower 1.42 sends a message in two steps: the message (with its object tree) first, then its
objects (the arrays, the records). A receiver that sees the message pulls the objects with
``flwr.supercore.inflatable.inflatable_utils.pull_objects``, and an object that has not arrived
yet is retried after **1 s** (``PULL_INITIAL_BACKOFF``), doubling up to 10 s. On loopback or a
LAN the objects arrive a few milliseconds after the message, so a receiver that looks early
(every warm receiver does) waits ~1 s for nothing: measured, one reply pull in four of a
2-node run on loopback paid 1.2 s, and a SuperNode's receive as often.

:func:`quick_pull_objects` is Flower's ``pull_objects`` unchanged except for its backoff
(first retry after :data:`PULL_BACKOFF_S`, doubling up to :data:`PULL_BACKOFF_CAP_S`);
:func:`use_quick_pulls` makes one Flower module (the SuperNode's main loop, the ServerApp's
Grid) call it instead of the original. The retry and time limits stay Flower's. These are
Flower 1.42 internals (the modules' ``pull_objects`` name); a Flower upgrade must re-check them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from flwr.supercore.inflatable.inflatable_utils import pull_objects

PULL_BACKOFF_S = 0.02
PULL_BACKOFF_CAP_S = 0.5


def quick_pull_objects(*args: Any, **kwargs: Any) -> dict[str, bytes]:
    """Flower's ``pull_objects`` with a 20 ms first retry (doubling, capped at 0.5 s)."""
    kwargs.setdefault("initial_backoff", PULL_BACKOFF_S)
    kwargs.setdefault("backoff_cap", PULL_BACKOFF_CAP_S)
    return pull_objects(*args, **kwargs)


def use_quick_pulls(module: ModuleType) -> None:
    """Make ``module`` (a Flower module that imported ``pull_objects``) pull with short retries.

    Raises
    ------
    AttributeError
        The module has no ``pull_objects`` (a Flower version this was not written for).
    """
    if getattr(module, "pull_objects", None) is None:
        raise AttributeError(f"{module.__name__} has no pull_objects (Flower changed?)")
    module.pull_objects = quick_pull_objects
