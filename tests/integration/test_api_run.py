"""``docs/examples/api_run.py`` on Flower's simulation engine (Ray): arrays in memory, a
composed and edited config, a Result, the run directory read back, Ray shut down after."""

from __future__ import annotations

import runpy

import numpy as np
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_api_run_example_on_ray(tmp_path, capfd):
    import ray

    example = runpy.run_path(str(REPO / "docs" / "examples" / "api_run.py"))
    result = example["main"](tmp_path)
    out, _ = capfd.readouterr()
    assert result.status == "completed", result.reason
    assert result.run_dir.parent.parent == tmp_path  # <output.root>/<output.name>/<time>
    assert (result.run_dir / "status.json").is_file() and (result.run_dir / "tb").is_dir()
    assert result.config["data"]["path"] == str(result.run_dir / "arrays.npz")
    assert result.config["strategy"]["proximal_mu"] == 0.1
    matrix = result.accuracy_matrix
    scored = matrix[~np.isnan(matrix)]
    assert matrix.shape == (2, 2) and scored.size and np.all((scored >= 0) & (scored <= 1))
    assert [r["round"] for r in result.rounds] == [1, 2]
    assert 0.0 <= result.metrics["acc"] <= 1.0
    assert not ray.is_initialized()  # Flower's backend shut Ray down; nothing left running
    assert "fedsim -" not in out and "round" not in out  # no table, no progress bar printed
