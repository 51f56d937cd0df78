"""Compose a config and run it: the one run path of both the Python API and ``fedsim``.

``fedsim.compose`` composes with Hydra (the same groups and overrides as the command line);
``fedsim.run`` validates, starts Ray, runs the federation on Flower's simulation engine, keeps
``status.json`` true and returns a :class:`~fedsim.api.result.Result`. Nothing here prints or
exits: errors are :mod:`fedsim.errors` exceptions with one-line messages, progress goes to the
``fedsim`` logger (the console progress bar is off unless ``log.progress=true``), and Ray is
shut down when the run ends, failed or not. The command line composes through Hydra's
``main`` and then calls :func:`prepare` and :func:`execute`, exactly as :func:`run` does.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedsim.api.result import Result
from fedsim.data.arrays import NPZ_TARGET, ArraySource, file_checksum
from fedsim.errors import ConfigError, FedsimError

log = logging.getLogger("fedsim")
#: applied before the caller's overrides: no progress bar in a notebook or a script's log
API_DEFAULTS = ("log.progress=false",)
ARRAYS_FILE = "arrays.npz"

ConfigLike = Sequence[str] | Mapping[str, Any] | None
DataLike = ArraySource | tuple | None


def _error(exc: BaseException) -> FedsimError:
    """A composition error as a ConfigError naming the key (one line)."""
    from fedsim.config.overrides import hydra_message

    if isinstance(exc, FedsimError):
        return exc
    key, sep, message = hydra_message(exc).partition(": ")
    return ConfigError(key, message) if sep else FedsimError(key)


def compose(
    overrides: Sequence[str] = (),
    *,
    config_dir: str | Path | Sequence[str | Path] | None = None,
    config_name: str = "config",
) -> dict[str, Any]:
    """Compose the experiment config from ``configs/`` and ``overrides``; return a plain dict.

    Parameters
    ----------
    overrides : sequence of str
        Command-line style overrides (``["strategy=fedprox", "seed=3"]``).
    config_dir : path or list of paths, optional
        Extra config directories searched after ``configs/`` (``fedsim --config-dir``).
    config_name : str
        The root config (``config``).

    Raises
    ------
    ConfigError
        One line naming the key: a syntax error, an unknown key or group option, a bad type.
    """
    from omegaconf import OmegaConf

    from fedsim.config.compose import compose_config
    from fedsim.config.overrides import check_override_syntax
    from fedsim.config.targets import drop_inherited_keys

    if isinstance(overrides, str):
        raise ConfigError("overrides", "expected a list of 'key=value' strings, got one string")
    dirs = [config_dir] if isinstance(config_dir, str | Path) else list(config_dir or [])
    ovs = [*API_DEFAULTS, *overrides]
    try:
        check_override_syntax(list(overrides))
        composed = compose_config(ovs, config_name=config_name, config_dirs=dirs)
        cfg = OmegaConf.to_container(composed, resolve=True)
        return drop_inherited_keys(cfg, list(overrides))
    except Exception as exc:  # noqa: BLE001 - Hydra/OmegaConf raise many types
        raise _error(exc) from None


def config_from(config: Any, config_dir: Any = None) -> dict[str, Any]:
    """A plain, complete config from overrides, a config dict or a ``FedsimConfig``."""
    from omegaconf import OmegaConf

    from fedsim.config.schema import FedsimConfig

    if isinstance(config, str):
        raise ConfigError(
            "config", f"expected a list of 'key=value' strings, got one string (use ['{config}'])"
        )
    if config is None or isinstance(config, Sequence):
        return compose(list(config or []), config_dir=config_dir)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        kind = type(config).__name__
        raise ConfigError("config", f"expected overrides, a dict or FedsimConfig, got {kind}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(FedsimConfig), dict(config))
        return OmegaConf.to_container(merged, resolve=True, throw_on_missing=True)
    except Exception as exc:  # noqa: BLE001 - OmegaConf validation errors
        raise _error(exc) from None


def default_run_dir(cfg: Mapping[str, Any]) -> Path:
    """``<output.root>/<output.name>/<time>`` as on the command line (``-1``... if taken)."""
    out = cfg["output"]
    base = Path(str(out["root"])).expanduser() / str(out["name"])
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    path, n = base / stamp, 0
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return path.resolve()


def as_source(data: DataLike) -> ArraySource | None:
    """``(x, y)``, ``(x, y, x_test, y_test)`` or an :class:`ArraySource` (``None``: none)."""
    if data is None or isinstance(data, ArraySource):
        return data
    if isinstance(data, tuple) and len(data) in (2, 4):
        return ArraySource(*(np.asarray(a) for a in data))
    raise ConfigError(
        "data", "expected (x, y), (x, y, x_test, y_test) or fedsim.data.ArraySource"
    )


def record_checksum(cfg: dict[str, Any]) -> None:
    """``data=arrays``: record the file's SHA-256 in ``data.checksum`` (unless already set)."""
    data = cfg.get("data")
    if not isinstance(data, dict) or data.get("_target_") != NPZ_TARGET or data.get("checksum"):
        return
    path = Path(str(data.get("path") or "")).expanduser()
    if data.get("path") and path.is_file():
        data["checksum"] = file_checksum(path)


def prepare(cfg: dict[str, Any], run_dir: Path) -> None:
    """Validate ``cfg`` (Ray starts meanwhile), then write ``config.yaml`` and mark it running.

    On bad input Ray is shut down again, a run directory holding nothing of a run is removed,
    and the :class:`~fedsim.errors.FedsimError` propagates.
    """
    import os

    from fedsim.config.validate import validate_objects, validate_values
    from fedsim.runtime.ray_start import abandon_ray_start, start_ray
    from fedsim.runtime.run_dir import discard_if_unstarted, mark, write_config

    if (run_dir / "status.json").exists():
        raise ConfigError(
            "output.name", f"run directory '{run_dir}' already holds a run; not overwriting it"
        )
    record_checksum(cfg)
    try:
        validate_values(cfg)
        start_ray(cfg)  # Ray starts while the data, plan and model are dry-built
        validate_objects(cfg)
    except BaseException:
        abandon_ray_start()
        discard_if_unstarted(run_dir)
        raise
    write_config(run_dir, cfg)
    mark(run_dir, "running", pid=os.getpid())


def execute(
    cfg: Mapping[str, Any],
    run_dir: Path,
    *,
    resume: bool = False,
    keep_warm: bool = False,
    **extra: Any,
) -> Result:
    """Run a prepared config in ``run_dir``; keep ``status.json`` true; return the result.

    ``keep_warm`` keeps the simulation session (Ray, the actors, Flower's engine) up for the
    next run with the same backend settings - a multirun's jobs
    (:func:`fedsim.runtime.simulation.run_in_simulation`).

    A run that ends ``degraded`` (or ``failed`` by ``federation.degraded_policy``) is returned
    with that status; an error marks the run ``failed`` and propagates (a
    :class:`~fedsim.errors.FedsimError` for anything the user can act on).
    """
    from fedsim.runtime.run_dir import mark
    from fedsim.runtime.simulation import run_in_simulation

    try:
        summary = run_in_simulation(cfg, run_dir, resume=resume, keep_warm=keep_warm)
    except FedsimError as exc:
        mark(run_dir, "failed", error=str(exc))
        raise
    except KeyboardInterrupt:
        mark(run_dir, "failed", error="interrupted")
        raise
    except Exception as exc:
        mark(run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    state = str(summary.get("status", "completed"))
    reason = summary.get("status_reason")
    mark(run_dir, state, **({"reason": reason} if reason else {}), **extra)
    log.info("run %s: %s (%s)", state, run_dir, reason or "ok")
    return Result(
        run_dir=run_dir,
        status=state,
        reason=None if reason is None else str(reason),
        config=dict(cfg),
        summary=summary,
    )


def run(
    config: ConfigLike = None,
    *,
    data: DataLike = None,
    out_dir: str | Path | None = None,
    config_dir: str | Path | Sequence[str | Path] | None = None,
) -> Result:
    """Run one experiment and return its :class:`~fedsim.api.result.Result`.

    Parameters
    ----------
    config : list of str, dict or FedsimConfig, optional
        Overrides as on the command line (composed with :func:`compose`), or a complete config
        (e.g. :func:`compose`'s dict, edited). Default: the default experiment.
    data : (x, y), (x, y, x_test, y_test) or ArraySource, optional
        Your own arrays: written to ``<run_dir>/arrays.npz`` and read by ``data=arrays``
        (:class:`fedsim.data.arrays.NpzSource`) on every worker.
    out_dir : path, optional
        The run directory (default ``<output.root>/<output.name>/<time>``); it must not hold
        a run already.
    config_dir : path or list of paths, optional
        Extra config directories (with overrides only).

    Raises
    ------
    FedsimError
        Bad input (a :class:`~fedsim.errors.ConfigError` naming the key, a
        :class:`~fedsim.errors.DataError`), or a run that failed; nothing is left looking
        like a finished run.
    """
    cfg = config_from(config, config_dir)
    source = as_source(data)
    if source is not None:
        cfg["data"] = {
            "_target_": NPZ_TARGET,
            "name": source.name,
            "path": None,
            "test_fraction": source.test_fraction,
            "split_seed": source.split_seed,
        }
    run_dir = Path(out_dir).expanduser().resolve() if out_dir else default_run_dir(cfg)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        if source is not None:
            cfg["data"]["path"] = str(source.save(run_dir / ARRAYS_FILE))
        prepare(cfg, run_dir)
    except BaseException:
        if created and not (run_dir / "status.json").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    log.info("run started: %s", run_dir)
    return execute(cfg, run_dir)
