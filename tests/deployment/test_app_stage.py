"""Staging the app for ``flwr run`` (fedsim.deployment.app_stage): the same FAB, fewer files."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from flwr.cli.build import build_fab_from_disk

from fedsim.deployment.app_stage import stage_app

REPO = Path(__file__).resolve().parents[2]


def fab_files(fab: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(fab)) as z:
        return {name: z.read(name) for name in z.namelist()}


def make_app(root: Path, gitignore: str) -> Path:
    app = root / "app"
    (app / "pkg" / "sub").mkdir(parents=True)
    (app / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0.0"\ndependencies = []\n'
        '[tool.flwr.app]\npublisher = "me"\n'
        '[tool.flwr.app.components]\nserverapp = "pkg.a:app"\nclientapp = "pkg.a:app"\n'
    )
    (app / ".gitignore").write_text(gitignore)
    (app / "pkg" / "a.py").write_text("app = None\n")
    (app / "pkg" / "sub" / "conf.yaml").write_text("x: 1\n")
    (app / "README.md").write_text("# demo\n")
    (app / "pkg" / "debug.log").write_text("ignored file\n")
    for ignored in (".venv/lib", "runs/r1", "pkg/__pycache__", "build"):
        (app / ignored).mkdir(parents=True, exist_ok=True)
        (app / ignored / "m.py").write_text("ignored = True\n")
        (app / ignored / "data.json").write_text("{}\n")
    (app / "runs" / "keep.json").write_text('{"k": 1}\n')
    outside = root / "outside.py"
    outside.write_text("x = 1\n")
    os.symlink(outside, app / "pkg" / "link.py")
    os.symlink(app / "pkg", app / "linked_dir")
    return app


def test_the_staged_app_builds_the_same_fab(tmp_path):
    app = make_app(tmp_path, "runs/\n*.log\n")
    staged = stage_app(app, tmp_path / "stage")
    original, copy = fab_files(build_fab_from_disk(app)), fab_files(build_fab_from_disk(staged))
    assert copy == original
    assert "pkg/a.py" in original and "pkg/sub/conf.yaml" in original
    assert not (staged / ".venv").exists() and not (staged / "runs").exists()
    assert not (staged / "pkg" / "link.py").exists() and not (staged / "linked_dir").exists()


def test_a_gitignore_that_re_includes_prunes_nothing(tmp_path):
    app = make_app(tmp_path, "runs/*\n!runs/keep.json\n")
    staged = stage_app(app, tmp_path / "stage")
    assert (staged / "runs" / "keep.json").is_file()
    assert fab_files(build_fab_from_disk(staged)) == fab_files(build_fab_from_disk(app))


def test_staging_replaces_a_previous_stage(tmp_path):
    app = make_app(tmp_path, "runs/\n")
    dest = tmp_path / "stage"
    stage_app(app, dest)
    (app / "pkg" / "a.py").unlink()
    stage_app(app, dest)
    assert not (dest / "pkg" / "a.py").exists()


def test_fedsims_own_checkout_stages_to_the_same_fab(tmp_path):
    staged = stage_app(REPO, tmp_path / "stage")
    assert fab_files(build_fab_from_disk(staged)) == fab_files(build_fab_from_disk(REPO))
