"""A whole adapter-bank run (fake grid, real ServerApp body and ClientApp); outputs read back."""


import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.server.state import load_checkpoint
from tests.conftest import SMALL
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration


def test_adapter_bank_run_sends_only_adapters(tmp_path):
    run_dir, summary = run_experiment(
        tmp_path, *SMALL, "strategy=adapter_split", "strategy.backbone.epochs=5"
    )
    assert summary["status"] == "completed" and summary["rejected_replies"] == 0
    assert 0.3 < summary["final"]["acc"] <= 1.0

    snap = load_checkpoint(run_dir / "checkpoint.npz")
    keys = list(snap["arrays"].keys())
    assert {k.split("/")[0] for k in keys} == {"shared", "task0", "task1"}
    assert all("lora_" in k or "/head." in k for k in keys), "only adapters are global state"

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {
        "adapters/trainable_fraction",
        "adapters/payload_to_model_bytes",
        "adapters/usage_task_0",
        "adapters/usage_task_1",
        "comm/bytes_up",
    } <= tags
    fraction = [e.value for e in acc.Scalars("adapters/trainable_fraction")]
    assert all(0 < f < 0.5 for f in fraction)
    ratio = [e.value for e in acc.Scalars("adapters/payload_to_model_bytes")]
    assert all(0 < r < 0.5 for r in ratio)
    usage = sum(e.value for t in (0, 1) for e in acc.Scalars(f"adapters/usage_task_{t}"))
    trained = sum(e.value for e in acc.Scalars("system/clients_trained"))
    assert usage == trained  # every client update went to exactly one task entry
