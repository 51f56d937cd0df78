"""Continue a killed or failed run from its last checkpoint (``fedsim resume RUN_DIR``).

The run directory's ``config.yaml`` is reloaded, ``checkpoint.npz`` verified (data only, same
format version, written under this very config) and the run continues in the same directory
from the round after the checkpoint. Every random choice is a function of (seed, round,
client id) and the checkpoint holds all evolving state, so the final metrics equal those of
an uninterrupted run with the same config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fedsim.api.result import Result, read_json_object


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_resumable(run_dir: Path) -> tuple[dict, int]:
    """Return (resolved config, checkpoint round) or raise FedsimError saying why not."""
    from fedsim.errors import FedsimError
    from fedsim.server.state import CHECKPOINT_NAME, load_checkpoint

    if not run_dir.is_dir():
        raise FedsimError(f"RUN_DIR: '{run_dir}' is not a directory")
    if not (run_dir / "config.yaml").is_file():
        raise FedsimError(f"RUN_DIR: '{run_dir}' has no config.yaml (not a fedsim run directory)")
    status = _read_status(run_dir / "status.json")
    if status.get("state") == "completed":
        raise FedsimError(
            f"RUN_DIR: run '{run_dir}' already completed; refusing to overwrite its results "
            "(start a new run instead)"
        )
    pid = status.get("pid")
    if status.get("state") == "running" and pid and int(pid) != os.getpid() and _alive(int(pid)):
        raise FedsimError(f"RUN_DIR: run '{run_dir}' is still running (pid {pid})")
    cfg = load_run_config(run_dir / "config.yaml")
    snap = load_checkpoint(run_dir / CHECKPOINT_NAME, config=cfg)
    return cfg, int(snap["round"])


def _read_status(path: Path) -> dict:
    """``status.json`` of a run directory (``{}`` when there is none)."""
    return read_json_object(path, "RUN_DIR") if path.is_file() else {}


def load_run_config(path: Path) -> dict:
    """The run's saved ``config.yaml``, checked against the schema; errors are one line."""
    from omegaconf import OmegaConf

    from fedsim.config.overrides import hydra_message
    from fedsim.config.schema import FedsimConfig
    from fedsim.errors import FedsimError

    try:
        loaded = OmegaConf.load(path)
    except Exception as exc:  # noqa: BLE001 - YAML and OmegaConf raise several types
        first = str(exc).strip().splitlines()[:1] or [type(exc).__name__]
        raise FedsimError(f"RUN_DIR: '{path}' is not valid YAML ({first[0]})") from None
    if not isinstance(loaded, Mapping) or not loaded:
        raise FedsimError(f"RUN_DIR: '{path}' is empty or not a mapping of config keys")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(FedsimConfig), loaded)
        return OmegaConf.to_container(merged, resolve=True, throw_on_missing=True)
    except Exception as exc:  # noqa: BLE001 - OmegaConf validation errors
        raise FedsimError(f"RUN_DIR: '{path}': {hydra_message(exc)}") from None


def resume(run_dir: str | Path) -> Result:
    """Continue the run in ``run_dir`` after its last checkpoint; return its :class:`Result`.

    Raises
    ------
    FedsimError
        The directory cannot be resumed (completed, still running, no or foreign checkpoint),
        or the resumed run failed.
    """
    from fedsim.api.runner import execute
    from fedsim.config.validate import validate
    from fedsim.runtime.run_dir import mark

    path = Path(run_dir).expanduser().resolve()
    cfg, rnd = check_resumable(path)
    validate(cfg)
    mark(path, "running", pid=os.getpid(), resumed_from=rnd)
    return execute(cfg, path, resume=True, resumed_from=rnd)
