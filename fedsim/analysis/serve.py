"""TensorBoard over one run or many, behind ``fedsim tensorboard RUN_DIR [--port N]``.

``RUN_DIR`` may be one run directory (its ``tb/`` folder shows as run ``tb``), a Hydra multirun
directory or an ``output.root``: TensorBoard's logdir is ``RUN_DIR`` itself, so every run below
it appears as its own run, the HParams tab compares them in one table and the Custom Scalars
tab shows fedsim's layout. Serves until Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path

from fedsim.analysis.runs import AnalysisError


def logdir_for(path: Path) -> Path:
    """The logdir TensorBoard should read for ``path`` (fails when it holds no event files)."""
    if not path.is_dir():
        raise AnalysisError(f"'{path}' is not a directory")
    if next(path.rglob("events.out.tfevents.*"), None) is None:
        raise AnalysisError(f"no TensorBoard event files under '{path}' (is it a fedsim run?)")
    return path


def start(logdir: Path, port: int, host: str = "127.0.0.1") -> str:
    """Start TensorBoard's server in background threads of this process; return its URL."""
    from tensorboard import program

    tb = program.TensorBoard()
    tb.configure(argv=[None, "--logdir", str(logdir), "--host", host, "--port", str(port)])
    try:
        return tb.launch()
    except program.TensorBoardServerException as exc:
        raise AnalysisError(f"--port {port}: {exc.msg}") from exc
