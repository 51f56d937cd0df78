"""Whole runs (fake grid, real ClientApp) of combinations the compatibility table honours or
refuses: Fed-Recon keeps its base phase, FedHyper-CL moves FedProto's client LR, a data
curriculum paces the adapter learner, and a refused pair stops before Ray with one line."""

from pathlib import Path

import pytest

from tests.cli.invoke import run_fedsim
from tests.conftest import SMALL
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration


def finished(tmp_path: Path, *args: str) -> dict:
    return run_experiment(tmp_path, "log.progress=false", *args)[1]


def test_fedrecon_shared_order_frozen_encoder_forgets_nothing(tmp_path):
    summary = finished(tmp_path, "+experiment=quick", "strategy=fedrecon", "scenario.order=shared")
    final_row = summary["federation_matrix"][-1]
    assert final_row[0] > 0.8  # task 0 ended in the base phase; before the fix: 0.0
    assert summary["final"]["forgetting"] < 0.1  # before the fix: 0.50
    base = 3  # strategy.base_rounds of configs/strategy/fedrecon.yaml
    frozen = [h["central_task_acc"][0] for h in summary["history"] if h["round"] > base]
    assert frozen and min(frozen) > 0.8  # task 0 keeps its prototypes under the frozen encoder
    assert summary["rejected_replies"] == 0


def test_fedproto_honours_fedhyper_cl_client_curriculum_and_runtime_task_order(tmp_path):
    summary = finished(
        tmp_path, *SMALL, "strategy=fedproto", "lr=fedhyper_cl", "train.lr=0.05",
        "selection=client_curriculum", "curriculum=tasks_runtime", "num_rounds=2",
    )
    trained = [h for h in summary["history"] if h["clients_trained"]]
    assert trained and all(h["lr/client_mean"] != pytest.approx(0.05) for h in trained)
    # the client curriculum ranks clients by the difficulty every prototype client reports
    assert all(len(h["client_difficulties"]) == h["clients_trained"] for h in trained)
    assert summary["rejected_replies"] == 0


def test_adapter_learner_is_paced_by_a_data_curriculum(tmp_path):
    summary = finished(
        tmp_path, *SMALL, "strategy=adapter_avg", "curriculum=data_curriculum",
        "strategy.backbone.epochs=1", "num_rounds=2",
    )
    pools = [h["curriculum"].get("curriculum-pool") for h in summary["history"]]
    assert any(p is not None and 0 < p < 1 for p in pools), pools


def test_refused_pair_stops_before_ray_with_one_line(tmp_path):
    res = run_fedsim(f"output.root={tmp_path}", "strategy=fedrecon", "lr=fedhyper_gm", cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(
        "fedsim: error: lr: lr=fedhyper_gm cannot run with strategy=fedrecon:"
    )
    assert not list(tmp_path.rglob("summary.json"))
