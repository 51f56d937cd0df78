"""Prototype strategies in whole runs (fake grid, real ServerApp body and ClientApp)."""

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.server.state import load_checkpoint
from tests.conftest import SMALL
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration


def finished_run(tmp_path: Path, *args: str) -> tuple[Path, dict]:
    return run_experiment(tmp_path, *SMALL, *args)


def events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_heterogeneous_fedproto_federation_runs_end_to_end(tmp_path):
    run_dir, summary = finished_run(
        tmp_path,
        "strategy=fedproto",
        "model.hidden=[64]",
        "strategy.client_models=[{hidden:[64]},{hidden:[128,64]}]",
        "strategy.projection_every=1",
    )
    assert summary["rejected_replies"] == 0
    assert 0.0 <= summary["final"]["acc"] <= 1.0
    assert summary["final_central_acc"] is None  # no global model in FedProto
    # client models of two architectures live in the clients' state, never on the wire
    store = load_checkpoint(run_dir / "checkpoint.npz")["store"]
    depth = {cid: len(keys) for cid, keys in store["array_keys"].items()}
    assert {depth[c] for c in depth if c % 2 == 0} == {4}  # 1 hidden layer + head
    assert {depth[c] for c in depth if c % 2 == 1} == {6}  # 2 hidden layers + head
    up = [h["bytes_up"] for h in summary["history"] if h["clients_trained"]]
    assert max(up) < 4 * (4 * 10 * 64 + 400), "replies must carry prototypes only"
    acc = events(run_dir)
    sizes = [e.value for e in acc.Scalars("prototypes/bank_size")]
    assert sizes and sizes[-1] == 4  # 2 tasks x 2 digits seen by the federation
    assert "prototypes/projection_pca" in acc.Tags()["images"]
    assert "prototypes/distance_term" in acc.Tags()["scalars"]


def test_fedrecon_run_learns_by_nearest_prototype(tmp_path):
    run_dir, summary = finished_run(tmp_path, "strategy=fedrecon", "strategy.base_rounds=1")
    assert summary["rejected_replies"] == 0
    assert summary["final_central_acc"] > 0.5
    last = summary["history"][-1]
    assert last["bytes_up"] < last["bytes_down"] / 4, "after the base phase only prototypes go up"
    acc = events(run_dir)
    assert acc.Scalars("prototypes/bank_size")[-1].value == 4
    assert "prototypes/projection_pca" in acc.Tags()["images"]
