"""Whole runs of the privacy modes on the fake grid: they run, report, and resume exactly."""

from __future__ import annotations

import json

import pytest

from fedsim.server.state import CHECKPOINT_NAME, checkpoint_round
from tests.conftest import SMALL, compose
from tests.fake_grid import EngineStoppedError, run_on_fake_grid
from tests.server import resume_cases

pytestmark = pytest.mark.integration

FAST = [*SMALL, "train.epochs=1"]  # 4 clients, 2 tasks; 3 rounds, cohorts [0,3] [0-3] [1,2]


def comparable(summary: dict) -> str:
    return json.dumps(resume_cases.comparable(summary), sort_keys=True)


def test_central_adaptive_with_fedadam_resumes_bit_for_bit(tmp_path):
    """The wrapper's clip norm and history and FedAdam's moments all go through the checkpoint."""
    cfg = compose(*FAST, "strategy=fedadam", "privacy=central_adaptive",
                  "privacy.count_std=1.0", f"output.root={tmp_path}")  # fmt: skip
    whole, _ = run_on_fake_grid(cfg, tmp_path / "whole")
    clips = [r["privacy"]["clip_norm"] for r in whole["history"]]
    assert len(set(clips)) == 3, "the adaptive clip norm moves every round"
    assert whole["privacy"]["mode"] == "central" and whole["privacy"]["epsilon"] > 0
    run_dir = tmp_path / "stopped"
    with pytest.raises(EngineStoppedError):
        run_on_fake_grid(cfg, run_dir, stop_before_send=3)
    assert checkpoint_round(run_dir / CHECKPOINT_NAME) == 1
    resumed, _ = run_on_fake_grid(cfg, run_dir, resume=True)
    assert comparable(resumed) == comparable(whole)


def test_central_noise_changes_the_model_and_zero_noise_only_clips(tmp_path):
    plain, _ = run_on_fake_grid(compose(*FAST, f"output.root={tmp_path}"), tmp_path / "plain")
    clip_only, _ = run_on_fake_grid(
        compose(*FAST, "privacy=central_fixed", "privacy.noise_multiplier=0",
                "privacy.clip_norm=1000", "privacy.uniform_weights=false",
                f"output.root={tmp_path}"),
        tmp_path / "clip",
    )  # fmt: skip
    # a clip norm no update reaches and no noise: FedAvg's numbers (up to float32 rounding)
    assert clip_only["final"]["acc"] == pytest.approx(plain["final"]["acc"], abs=1e-6)
    assert clip_only["privacy"]["clipped_fraction"] == 0.0


def test_local_dp_reports_each_clients_epsilon(tmp_path):
    summary, _ = run_on_fake_grid(
        compose(*FAST, "privacy=local_dp", f"output.root={tmp_path}"), tmp_path / "run"
    )
    eps = summary["privacy"]["client_epsilon"]
    assert sorted(eps) == ["0", "1", "2", "3"]
    assert eps["0"] > 0 and summary["privacy"]["clipped_fraction"] is not None


def test_prototype_noise_on_fedrecon_reports_epsilon(tmp_path):
    cfg = compose(*FAST, "strategy=fedrecon", "strategy.base_rounds=1", "privacy=prototypes",
                  f"output.root={tmp_path}")  # fmt: skip
    summary, _ = run_on_fake_grid(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    assert summary["privacy"]["epsilon"] > 0
