"""Drop Ray's one known-benign shutdown line from what Ray forwards to the driver's console.

At the end of every simulation Flower's actor pool calls ``ClientAppActor.terminate``, which
logs ``WARNING: Manually terminating ClientAppActor`` and ends the actor with
``ray.actor.exit_actor()``. fedsim creates its actors with
``max_task_retries=1`` (so that a killed actor's task re-runs once, see
:func:`fedsim.runtime.simulation.backend_config`), and the raylet then reports the intentional
exit as ``Task ClientAppActor.terminate failed. There are 1 retries remaining ...
IntentionalSystemExit ...`` - once per actor, on every successful run, printed by Ray's log
forwarding on the driver. The line says nothing wrong happened, but reads as a failure.

:func:`quiet_benign_shutdown_lines` wraps the function Ray prints them with so that exactly
those lines are dropped; every other line (actor prints, tracebacks, Ray's real warnings) still
reaches the console, unchanged. It touches Ray's driver-side
``ray._private.worker.print_to_stdstream``; if a Ray release renames it, the filter is skipped
and Ray prints as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

#: The two lines of every actor's normal end: Flower's own warning before it calls
#: ``exit_actor()``, and the raylet's report of that exit (nothing failed).
BENIGN = re.compile(
    r"Task ClientAppActor\.terminate failed\..*IntentionalSystemExit"
    r"|WARNING .*:\s+Manually terminating ClientAppActor\s*$"
)
_MARK = "_fedsim_filtered"


def keep_line(line: str) -> bool:
    """False for the benign shutdown line, True for every other line."""
    return BENIGN.search(line) is None


def filtered(handler: Callable[[Mapping[str, Any]], None]) -> Callable[[Mapping[str, Any]], None]:
    """Wrap a Ray log handler: forward ``data`` without benign lines (nothing if none is left)."""

    def handle(data: Mapping[str, Any]) -> None:
        lines = data.get("lines")
        if not isinstance(lines, list):
            handler(data)
            return
        kept = [ln for ln in lines if not isinstance(ln, str) or keep_line(ln)]
        if kept:
            handler({**data, "lines": kept} if len(kept) != len(lines) else data)

    return handle


def quiet_benign_shutdown_lines() -> bool:
    """Filter the driver's Ray console output; True when the filter is (already) in place.

    Ray prints both forwarded worker logs and errors pushed to the driver (the raylet's
    report above is one) through ``ray._private.worker.print_to_stdstream``, looked up as a
    module global at each call; it is replaced by a filtering wrapper once per process. Call
    it before ``ray.init`` so that the log handler Ray installs there uses the wrapper too.
    """
    try:
        from ray._private import worker
    except ImportError:  # pragma: no cover - Ray without this module layout
        return False
    current = getattr(worker, "print_to_stdstream", None)
    if current is None:
        return False
    if getattr(current, _MARK, False):
        return True
    wrapped = _filtering(current)
    setattr(wrapped, _MARK, True)
    worker.print_to_stdstream = wrapped
    return True


def _filtering(print_fn: Callable[..., None]) -> Callable[..., None]:
    def print_to_stdstream(data: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        filtered(lambda d: print_fn(d, *args, **kwargs))(data)

    return print_to_stdstream
