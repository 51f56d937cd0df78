"""Whole runs of the domain- and task-incremental stream kinds (fake grid, real ClientApp)."""

import numpy as np
import pytest

from tests.conftest import SMALL
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration


def run(tmp_path, *overrides):
    return run_experiment(tmp_path, *SMALL, *overrides)[1]


def sane(summary):
    final = summary["final"]
    assert summary["status"] == "completed" and summary["rejected_replies"] == 0
    assert 0.0 <= final["acc"] <= 1.0 and -1.0 <= final["bwt"] <= 1.0
    central = np.asarray(summary["central_matrix"])
    assert central.shape[1] == 2 and np.all((central >= 0) & (central <= 1))
    return final, central


def test_domain_incremental_run_applies_each_tasks_transform(tmp_path):
    summary = run(tmp_path, "scenario=domain_incremental", "scenario.rotation_step=90")
    final, central = sane(summary)
    # same test images, two domains (identity, rot:90): the initial model scores them differently
    assert central[0, 0] != central[0, 1]
    assert final["acc"] > 0.4, "all 10 digits in both domains: must beat chance (0.1) clearly"
    assert summary["final_central_acc"] > 0.4


def test_task_incremental_run_masks_heads(tmp_path):
    summary = run(tmp_path, "scenario=task_incremental")
    final, central = sane(summary)
    # two classes per task, logits masked to them: chance is 0.5, a trained head is far above
    assert central[-1].min() > 0.8
    assert final["acc"] > 0.8
