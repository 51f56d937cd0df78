"""The Flower app directory that ``flwr run`` packs, without the checkout's ignored trees.

``flwr run APP`` builds the FAB from *every* file under ``APP`` - ``os.walk`` and a
``resolve()`` per file - and filters afterwards by Flower's include/exclude rules and the app's
``.gitignore``. The app directory of a fedsim checkout is the checkout itself; with its
``.venv`` (~70,000 files) and Ray's ``.tmp`` that walk took 5.9 s per submission, against
0.8 s for a clean clone (measured on the CI machine).

:func:`stage_app` copies the app into a staging directory, skipping the directories whose
every file those rules exclude anyway (``.gitignore`` directory patterns, Flower's own
``.venv/**``-style excludes), symlinks (which Flower skips) and files no FAB holds (Flower
keeps only its built-in include patterns: ``*.py``, ``*.toml``, ``*.md``, ``*.yaml``, ...);
``flwr run`` then walks the copy and applies all its rules to it, so the FAB holds the same
files with the same bytes.
An app whose ``.gitignore`` re-includes paths (``!pattern``) is copied without pruning.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROBE = "\x00fedsim-probe"  # a file name no rule names: a directory whose probe is excluded


def _spec(app: Path):
    """Rules that exclude whole directories: Flower's excludes plus the app's .gitignore.

    Parsed by Flower's own ``build_pathspec``, so they mean what they mean to ``flwr build``.
    """
    from flwr.cli.utils import build_pathspec
    from flwr.common.constant import FAB_EXCLUDE_PATTERNS

    lines = list(FAB_EXCLUDE_PATTERNS)
    ignore = app / ".gitignore"
    if ignore.is_file():
        own = ignore.read_text(errors="replace").splitlines()
        if any(line.strip().startswith("!") for line in own):
            return None  # a re-included path under an ignored directory: prune nothing
        lines += own
    return build_pathspec(lines)


def _wanted(app: Path):
    """Files a FAB can hold: Flower's built-in include patterns (None: every file).

    An app that sets its own ``[tool.flwr.app]`` include/exclude gets every file, so its
    patterns resolve as before. ``pyproject.toml`` and ``.gitignore`` are always copied.
    """
    import tomllib

    from flwr.cli.build import get_user_fab_patterns
    from flwr.cli.utils import build_pathspec
    from flwr.common.constant import FAB_INCLUDE_PATTERNS

    try:
        config = tomllib.loads((app / "pyproject.toml").read_text(errors="replace"))
        user = get_user_fab_patterns(config)
    except (OSError, ValueError):  # Flower reports a bad or missing pyproject itself
        return None
    return None if any(p is not None for p in user) else build_pathspec(FAB_INCLUDE_PATTERNS)


def stage_app(app: Path, dest: Path) -> Path:
    """Copy ``app`` to ``dest`` (replaced), skipping ignored directories; return ``dest``."""
    app = Path(app).expanduser().resolve()
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    spec = _spec(app)
    wanted = _wanted(app)
    for dirpath, dirnames, filenames in os.walk(app, followlinks=False):
        rel = Path(dirpath).relative_to(app)
        keep = []
        for name in dirnames:
            path = Path(dirpath) / name
            probe = (rel / name / PROBE).as_posix()
            if path.is_symlink() or (spec is not None and spec.match_file(probe)):
                continue
            keep.append(name)
        dirnames[:] = keep
        target = dest / rel
        target.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            path = Path(dirpath) / name
            relpath = (rel / name).as_posix()
            always = relpath in ("pyproject.toml", ".gitignore")
            if path.is_symlink() or not (always or wanted is None or wanted.match_file(relpath)):
                continue
            shutil.copy2(path, target / name)
    return dest
