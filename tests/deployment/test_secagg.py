"""SecAgg+ on the real deployment engine: SuperLink + 3 SuperNodes on 127.0.0.1.

One run with ``privacy=secagg`` (Flower's ``SecAggPlusWorkflow`` on the server, its
``secaggplus_mod`` on each node). Its final model must equal FedAvg of the same round without
secure aggregation - computed in-process by the same ClientApp - within the quantisation
bound of :func:`tests.server.secagg_runs.quantisation_bound`; and every byte it received must be
what the protocol sends, with no arrays: its ``bytes_up`` equals that of the in-process secure
run, whose replies the test inspects one by one (public keys, encrypted shares, masked vectors,
unmasking shares, metrics; array records empty).
"""

import json

import numpy as np
import pytest
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.deployment.test_deployment import deploy
from tests.server.secagg_runs import (
    TINY3,
    final_arrays,
    largest_update,
    quantisation_bound,
    run_in_process,
    weights_of,
)


@pytest.mark.integration
def test_secure_aggregation_on_three_supernodes_equals_fedavg(tmp_path):
    res = deploy(
        "local", "--insecure", "--workdir", str(tmp_path / "w"), *TINY3, "privacy=secagg",
        f"output.root={tmp_path}/runs", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "secure aggregation (SecAgg+)" in res.stdout and "1 of 1 rounds" in res.stdout
    (run_dir,) = [p.parent for p in (tmp_path / "runs").rglob("summary.json")]
    summary = json.loads((run_dir / "summary.json").read_text())
    row = summary["history"][0]
    assert row["clients_trained"] == 3 and row["privacy"]["secagg"] == 1.0
    assert summary["privacy"]["secagg"]["rounds"] == [1]

    _, plain_arrays, plain_grid = run_in_process(tmp_path / "plain")
    secure, _, secure_grid = run_in_process(tmp_path / "secure", "privacy=secagg")
    stage_replies = [
        r for r in secure_grid.train_replies if RECORD_KEY_CONFIGS in r.content.config_records
    ]
    assert len(stage_replies) == 12
    assert all(len(a) == 0 for r in stage_replies for a in r.content.array_records.values())
    assert row["bytes_up"] == secure["history"][0]["bytes_up"]

    arrays = final_arrays(run_dir)
    bound = quantisation_bound(weights_of(plain_grid.train_replies), largest_update(plain_grid))
    diff = max(float(np.abs(plain_arrays[k] - arrays[k]).max()) for k in plain_arrays)
    assert diff <= bound, (diff, bound)
    assert row["train_loss"] == secure["history"][0]["train_loss"]  # same local training

    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    assert [e.value for e in acc.Scalars("privacy/secagg")] == [1.0]
