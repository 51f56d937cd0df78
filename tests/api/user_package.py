"""Install ``docs/examples/own_strategy_package`` into a temporary directory, for real.

The package's modules are copied to ``tmp_path`` and a ``.dist-info`` folder is written next to
them with the ``entry_points.txt`` its ``pyproject.toml`` declares (what ``pip install`` would
write); with ``tmp_path`` on ``sys.path``, :func:`importlib.metadata.entry_points` finds them -
real entry point discovery, nothing patched.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO

EXAMPLE = REPO / "docs" / "examples" / "own_strategy_package"
PACKAGE = "my_fedsim_ext"


def install(target: Path) -> dict[str, dict[str, str]]:
    """Copy the package and write its dist-info under ``target``; return its entry points."""
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    shutil.copytree(EXAMPLE / PACKAGE, target / PACKAGE)
    info = target / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
    )
    groups = meta["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items()) + "\n"
            for group, eps in groups.items()
        )
    )
    return groups


def uninstall() -> None:
    """Forget the package's modules (the next test imports its own copy)."""
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
