"""``fedsim resume RUN_DIR``: continue a killed or failed run from its last checkpoint.

The work is :func:`fedsim.api.resume.resume` (also ``fedsim.resume`` from Python); this module
prints and exits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fedsim.api.resume import check_resumable, load_run_config

__all__ = ["check_resumable", "load_run_config", "resume_main"]
USAGE = "usage: fedsim resume RUN_DIR"
HELP = f"""{USAGE}

Continue a killed or failed run from its last checkpoint, in the same directory. The final
metrics equal those of an uninterrupted run with the same config. Refused for a completed
run, a run still running, or a checkpoint written under another config."""


def resume_main(args: list[str]) -> None:
    """Entry point of ``fedsim resume``; errors are one line and exit code 2."""
    from fedsim.cli.main import fail
    from fedsim.cli.run import run_and_record
    from fedsim.config.validate import validate
    from fedsim.errors import FedsimError
    from fedsim.runtime.run_dir import mark

    if args and args[0] in ("-h", "--help"):
        print(HELP)
        return
    if len(args) != 1:
        fail(f"resume takes exactly one RUN_DIR ({USAGE})")
    run_dir = Path(args[0]).resolve()
    try:
        cfg, rnd = check_resumable(run_dir)
        validate(cfg)
    except FedsimError as exc:
        fail(str(exc))
    print(f"fedsim: resuming {run_dir} after round {rnd}", file=sys.stderr)
    mark(run_dir, "running", pid=os.getpid(), resumed_from=rnd)
    run_and_record(cfg, run_dir, resume=True, resumed_from=rnd)
