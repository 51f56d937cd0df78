"""FedHyper composes with several strategies in whole runs; its LRs reach TensorBoard.

Whole runs of the real ServerApp body and ClientApp on the fake grid (no Ray: nothing here is
about the engine; ``test_simulation.py`` runs the engine).
"""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import SMALL
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration

IID = [
    "scenario.num_tasks=1",
    "scenario.classes_per_task=4",
    "scenario.rounds_per_task=3",
    "scenario.max_arrival_delay=0",
    "scenario.order=shared",
]


@pytest.mark.parametrize(
    "strategy, controller",
    [("fedavg", "fedhyper_full"), ("fedprox", "fedhyper_full"), ("fedadam", "fedhyper_g")],
)
def test_fedhyper_composes_with_strategy(strategy, controller, tmp_path):
    run_dir, summary = run_experiment(tmp_path, *SMALL, *IID, f"strategy={strategy}",
                                      f"lr={controller}")
    assert summary["rounds"] == 3 and summary["rejected_replies"] == 0
    hist = summary["history"]
    assert summary["final_central_acc"] > 0.5  # four digits, three rounds: it learns
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    server = [e.value for e in acc.Scalars("lr/server")]
    assert server[0] == 1.0  # round 1: plain step (no previous update yet)
    assert server[1] != 1.0  # adapted from <Delta_1, Delta_2>
    low, high = (0.8, 5.0) if controller == "fedhyper_full" else (0.2, 5.0)
    assert all(low <= v <= high for v in server)
    assert [h["lr/server"] for h in hist] == pytest.approx(server)
    client = [e.value for e in acc.Scalars("lr/client_mean")]
    assert "lr/client_distribution" in acc.Tags()["histograms"]
    if controller == "fedhyper_full":
        # CL: clients ended at LRs of their own, within [0.1, 10] x train.lr
        assert all(0.01 - 1e-9 <= v <= 1.0 + 1e-9 for v in client)
        assert any(abs(v - 0.1) > 1e-6 for v in client)
        down = [e.value for e in acc.Scalars("comm/bytes_down")]
        assert down[1] > 1.9 * down[0]  # Delta_{t-1} travels with the model from round 2
        hist_events = acc.Histograms("lr/client_distribution")
        assert len(hist_events) == 3 and hist_events[-1].histogram_value.num > 0
    else:
        assert client == pytest.approx([0.1] * 3)
