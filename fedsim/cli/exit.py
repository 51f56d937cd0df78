"""End the ``fedsim`` process without Python's interpreter teardown.

After a run, CPython frees every object of the process one by one at exit (torch's and Ray's
modules, tensors, the core worker): ~0.7 s on the 2-core CI machine, after every output is
written. :func:`console_main` (the ``fedsim`` console script and ``python -m fedsim``) does
what Python's exit does that matters - join non-daemon threads, run the ``atexit`` handlers
(logging's flush, Ray's shutdown, ...), flush stdout and stderr, map ``SystemExit`` to a
status the same way - and then leaves with ``os._exit``, skipping only the freeing. An
uncaught exception other than ``SystemExit`` takes Python's ordinary path (traceback and all).
In-process callers (tests) use :func:`fedsim.cli.main.main`, which never exits this way.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any, NoReturn


def exit_status(code: Any) -> int:
    """The status Python gives ``SystemExit(code)``; prints a non-integer code to stderr."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def exit_process(status: int) -> NoReturn:
    """Join non-daemon threads, run ``atexit`` handlers, flush, then ``os._exit(status)``."""
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and not thread.daemon and thread.is_alive():
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing left to save
            pass
    os._exit(status)


def console_main() -> NoReturn:
    """Entry point of the ``fedsim`` console script: :func:`fedsim.cli.main.main`, fast exit."""
    from fedsim.cli.main import main

    try:
        main()
    except SystemExit as exc:
        status = exit_status(exc.code)
    else:
        status = 0
    exit_process(status)
