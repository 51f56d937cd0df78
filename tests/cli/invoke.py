"""Run the ``fedsim`` command in-process: ``fedsim.cli.main.main(argv)``, exit code and output.

A ``python -m fedsim`` subprocess costs a fresh interpreter importing torch, Flower and Hydra
(1.5 s of CPU, several seconds of wall time on a loaded machine) per call. The command's error
paths end in :class:`SystemExit` before Hydra's job runner or Ray are reached, so they can be
checked in-process with the same assertions; the console-script wiring keeps one subprocess
test (``tests/cli/test_main.py``) and the integration tests.
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would have returned."""

    returncode: int
    stdout: str
    stderr: str


def run_fedsim(*args: str, cwd: Path) -> Result:
    """Call ``fedsim.cli.main.main(list(args))`` in ``cwd``; capture stdout/stderr and exit code.

    An exception that escapes ``main`` (a bare traceback for a user) is re-raised, so a test
    fails loudly where the subprocess would have printed a traceback and exited 1.
    """
    from fedsim.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    code = 0
    try:
        with (
            contextlib.chdir(cwd),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            err.write(f"{exc.code}\n")
    finally:
        sys.argv = argv
    return Result(code, out.getvalue(), err.getvalue())
