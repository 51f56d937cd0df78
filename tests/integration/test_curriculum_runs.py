"""A whole run with the run-time task curriculum: decisions reach the server's client store.

Fake grid, real ServerApp body and ClientApp (no Ray).
"""

import numpy as np
import pytest
import yaml

from fedsim import wire
from fedsim.metrics import continual as metrics
from fedsim.server.state import load_checkpoint
from tests.fake_grid import run_experiment

pytestmark = pytest.mark.integration


def test_runtime_task_order_in_a_real_run(tmp_path):
    args = [
        "scenario.num_clients=3",
        "scenario.num_tasks=3",
        "scenario.rounds_per_task=1",
        "scenario.max_arrival_delay=0",
        "train.epochs=1",
        "log.progress=false",
        "curriculum=tasks_runtime",
    ]
    run_dir, summary = run_experiment(tmp_path, *args)
    assert summary["rounds"] == 3 and summary["rejected_replies"] == 0
    store = load_checkpoint(run_dir / "checkpoint.npz")["store"]["config"]
    assert sorted(store) == [0, 1, 2]
    for cfg in store.values():
        assert sorted(cfg[wire.CURRICULUM_DECIDED]) == [0, 1, 2]
    # the realised order is in the config the run recorded and the client matrices are full
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["curriculum"]["name"] == (
        "tasks_runtime"
    )
    for matrix in summary["client_matrices"].values():
        assert all(row[i] is not None for i, row in enumerate(matrix))
    # columns follow the order really taken, the FWT baseline b_j is the initial model's
    # accuracy on that same task, and every next-task cell A[i-1, i] was measured
    b_all = np.asarray(summary["central_matrix"][0], dtype=float)
    fwts = []
    for cid, matrix in summary["client_matrices"].items():
        decided = store[int(cid)][wire.CURRICULUM_DECIDED]
        plan_order = summary["client_orders"][cid]
        assert len(plan_order) == 3 and -1 not in plan_order
        a = np.array([[np.nan if v is None else v for v in row] for row in matrix])
        assert all(np.isfinite(a[i - 1, i]) for i in range(1, 3))
        fwts.append(metrics.forward_transfer(a, b_all[plan_order]))
        assert len(decided) == 3
    assert summary["final"]["fwt"] == pytest.approx(float(np.mean(fwts)))
