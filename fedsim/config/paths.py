"""Checks of the paths a run will write: writable, not on a special filesystem, names that fit.

A real probe (a directory created and removed at once in the nearest existing parent) is used
instead of ``os.access``: as root, ``os.access`` says yes to ``/sys`` and ``/proc``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedsim.errors import ConfigError

#: kernel/virtual filesystems a run directory must never go to
SPECIAL_FS = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "securityfs",
    "tracefs", "pstore", "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "binfmt_misc",
    "autofs", "efivarfs",
}  # fmt: skip
NAME_MAX = 255
PATH_MAX = 4096


def check_writable(root: str | Path, key: str = "output.root") -> None:
    """Fail unless ``root`` exists as a writable directory or can be created."""
    path = Path(os.path.abspath(Path(root).expanduser()))
    check_name_lengths(path, key)
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(key, f"'{path}' cannot be created: '{probe}' is a file")
    fs = filesystem_of(probe)
    if fs in SPECIAL_FS:
        raise ConfigError(key, f"'{path}' is on the special filesystem '{fs}' (not for files)")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".fedsim-probe-", dir=probe))
    except OSError as exc:
        raise ConfigError(
            key, f"directory '{path}' is not writable ({exc.strerror or exc})"
        ) from None


def check_name_lengths(path: Path, key: str) -> None:
    """Each path component must fit the filesystem's name limit, the whole path PATH_MAX."""
    if len(os.fsencode(str(path))) > PATH_MAX:
        raise ConfigError(key, f"path of {len(str(path))} characters is longer than {PATH_MAX}")
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise ConfigError(
                key,
                f"name '{part[:24]}...' has {len(part)} characters; "
                f"file names are limited to {NAME_MAX}",
            )


def filesystem_of(path: Path) -> str | None:
    """The filesystem type of the mount holding ``path`` (from /proc/self/mounts), if known."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, fs = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fs = point, parts[2]
    return fs


def check_config_dir(path: str) -> str:
    """``--config-dir DIR``: DIR must be a directory; return its absolute path."""
    full = Path(path).expanduser().resolve()
    if not full.is_dir():
        raise ConfigError("--config-dir", f"'{path}' is not a directory")
    return str(full)


def check_run_paths(
    cfg: Mapping[str, Any],
    composed: Any,
    hydra_overrides: list[str],
    *,
    multirun: bool,
) -> None:
    """``output.name``, ``output.root`` and Hydra's run (or sweep) directory can be written.

    ``composed`` is the composed config with its ``hydra`` node, used to resolve the run
    directory; a failure is blamed on ``hydra.run.dir``/``hydra.sweep.dir`` when the command
    line set it, else on ``output.name`` or ``output.root``.
    """
    from omegaconf import OmegaConf

    out = cfg["output"]
    for part in Path(str(out["name"])).parts:
        if len(os.fsencode(part)) > NAME_MAX:
            check_name_lengths(Path(part), "output.name")
    check_writable(out["root"], "output.root")
    which = "sweep" if multirun else "run"
    key = f"hydra.{which}.dir"
    overridden = any(o.lstrip("+~").startswith(key + "=") for o in hydra_overrides)
    try:
        run_dir = OmegaConf.select(composed, key, throw_on_missing=True)
    except Exception as exc:  # noqa: BLE001 - an unresolvable interpolation
        raise ConfigError(key, f"cannot be resolved: {exc}") from None
    if run_dir:
        check_writable(str(run_dir), key if overridden else "output.root")
