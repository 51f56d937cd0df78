"""``docs/examples/own_data_npz.py``'s file and overrides, run on the fake grid (no Ray)."""

from __future__ import annotations

import runpy

import numpy as np

import fedsim
from fedsim.config.validate import validate
from tests.conftest import REPO
from tests.fake_grid import run_on_fake_grid


def test_own_data_npz_example_runs(tmp_path):
    example = runpy.run_path(str(REPO / "docs" / "examples" / "own_data_npz.py"))
    path = example["write_npz"](tmp_path / "blobs.npz")
    with np.load(path) as npz:
        assert sorted(npz.files) == ["x", "y"] and npz["y"].dtype.kind == "i"
    cfg = fedsim.compose([*example["OVERRIDES"], f"data.path={path}", f"output.root={tmp_path}"])
    validate(cfg)
    summary, _ = run_on_fake_grid(cfg, tmp_path / "run")
    assert summary["rounds"] == 2
    assert np.asarray(summary["central_matrix"]).shape[1] == 2  # two tasks of the four classes
    assert summary["final"]["acc"] > 0.5  # well-separated blobs are learnt
