"""SecAgg+ on the server: the legacy shim, the update, and a whole round in-process.

The in-process runs use the deployment engine's placement (one client per node, state in
``context.state``) on a fake Grid that runs the real ClientApp with Flower's
``secaggplus_mod``, and the server runs Flower's ``SecAggPlusWorkflow`` stages: the real
protocol, without processes. One real deployment run is in tests/deployment/test_secagg.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict
from flwr.common import ndarrays_to_parameters
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim import wire
from fedsim.errors import ProtocolError
from fedsim.server.secagg import apply_update
from fedsim.server.secagg_legacy import CohortStrategy, content_bytes
from tests.server.secagg_runs import (
    largest_update,
    quantisation_bound,
    run_in_process,
    weights_of,
)


def test_the_shim_returns_the_cohort_and_keeps_the_unmasked_mean():
    shim = CohortStrategy([1002, 1000])
    pairs = shim.configure_fit(1, None, None)
    assert [p.node_id for p, _ in pairs] == [1002, 1000]
    mean = [np.array([0.5, -0.25])]

    class Res:
        parameters = ndarrays_to_parameters(mean)

    assert shim.aggregate_fit(1, [(pairs[0][0], Res())], []) == (None, {})
    assert shim.aggregate[0].tolist() == [0.5, -0.25]


def test_the_update_is_added_in_each_arrays_dtype():
    arrays = ArrayRecord(
        {"w": Array(np.array([1.0, 2.0], np.float32)), "n": Array(np.array(4, np.int64))}
    )
    new = apply_update(arrays, [np.array([0.25, -1.0]), np.array(0.9999)])
    assert new["w"].numpy().tolist() == [1.25, 1.0] and new["w"].numpy().dtype == np.float32
    assert new["n"].numpy().item() == 5 and new["n"].numpy().dtype == np.int64
    with pytest.raises(ProtocolError, match="1 arrays for 2"):
        apply_update(arrays, [np.zeros(2)])


def test_stage_bytes_count_configs_metrics_and_arrays():
    content = RecordDict(
        {
            "c": ConfigRecord({"ab": [b"xyz", b"12"], "s": "", "k": 3, "f": True}),
            "m": MetricRecord({"x": 1.0}),
            "a": ArrayRecord({"w": Array(np.zeros(4, np.float32))}),
        }
    )
    arrays = ArrayRecord({"w": Array(np.zeros(4, np.float32))}).count_bytes()
    assert content_bytes(content) == (2 + 5) + (1 + 0) + (1 + 8) + (1 + 1) + 9 + arrays


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same round with and without secure aggregation, in-process."""
    plain = run_in_process(tmp_path_factory.mktemp("plain"))
    secure = run_in_process(tmp_path_factory.mktemp("secure"), "privacy=secagg")
    return plain, secure


def test_the_secure_model_equals_fedavg_within_the_quantisation_bound(runs):
    (plain, plain_arrays, plain_grid), (secure, secure_arrays, _) = runs
    bound = quantisation_bound(weights_of(plain_grid.train_replies), largest_update(plain_grid))
    diff = max(float(np.abs(plain_arrays[k] - secure_arrays[k]).max()) for k in plain_arrays)
    assert 0 < diff <= bound, (diff, bound)
    assert bound < 1e-3  # tight enough that losing any client's update would fail it
    assert secure["history"][0]["train_loss"] == plain["history"][0]["train_loss"]


def test_the_server_never_receives_an_individual_update(runs):
    _, (_, _, grid) = runs
    stages = [r for r in grid.train_replies if RECORD_KEY_CONFIGS in r.content.config_records]
    assert len(stages) == 4 * 3  # four stages, three clients
    for reply in stages:
        assert all(len(rec) == 0 for rec in reply.content.array_records.values())
    masked = [r for r in stages if Key.MASKED_PARAMETERS in r.content[RECORD_KEY_CONFIGS]]
    assert len(masked) == 3


def test_the_round_is_reported_as_securely_aggregated(runs):
    (plain, _, _), (secure, _, grid) = runs
    row = secure["history"][0]
    assert row["privacy"]["secagg"] == 1.0 and "privacy" not in plain["history"][0]
    assert secure["privacy"]["secagg"]["rounds"] == [1]
    assert "skipped" in secure["privacy"]["secagg"]["update_norms"]
    # bytes up: every stage reply, masked vectors included (uint arrays twice float32's size)
    replies = sum(content_bytes(r.content) for r in grid.train_replies)
    assert row["bytes_up"] == replies > 2 * plain["history"][0]["bytes_up"]
    sent = [m for m in grid.sent if m.metadata.message_type == "train"]
    assert len(sent) == 12 and row["bytes_down"] == sum(content_bytes(m.content) for m in sent)
    assert row["privacy"]["secagg_clipped_fraction"] == 0.0
    acc = EventAccumulator(secure["tensorboard_dir"])
    acc.Reload()
    assert [e.value for e in acc.Scalars("privacy/secagg")] == [1.0]
    assert "updates/norm_mean" not in acc.Tags()["scalars"]
    assert "updates/norm_mean/text_summary" in acc.Tags()["tensors"]  # the text: skipped


def test_a_client_dropping_out_mid_protocol_is_unmasked_without_it(runs, tmp_path):
    """Client 2 fails when asked for its masked vector; its masks are reconstructed from the
    others' shares, and the new model is FedAvg of clients 0 and 1 (within the bound)."""

    def drops(msg):
        cfg = msg.content.config_records.get(RECORD_KEY_CONFIGS)
        return msg.metadata.dst_node_id == 1002 and cfg is not None and Key.SOURCE_LIST in cfg

    summary, arrays, _ = run_in_process(tmp_path, "privacy=secagg", fail=drops)
    row = summary["history"][0]
    assert row["clients_trained"] == 2 and "skipped" not in row
    assert "collect_masked_vectors" in row["rejected"]["2"]
    (_, _, plain_grid), _ = runs
    kept = [
        r for r in plain_grid.train_replies if r.content[wire.METRICS][wire.REPLY_CLIENT_ID] < 2
    ]
    weights = weights_of(kept)
    pairs = list(zip(weights, kept, strict=True))
    expected = {
        k: sum(w * r.content[wire.ARRAYS][k].numpy() for w, r in pairs) / sum(weights)
        for k in arrays
    }
    bound = quantisation_bound(weights, largest_update(plain_grid)) + 1e-6  # + FedAvg's rounding
    diff = max(float(np.abs(expected[k] - arrays[k]).max()) for k in arrays)
    assert diff <= bound, (diff, bound)


def test_a_round_with_one_client_is_skipped_saying_why(tmp_path):
    summary, _, _ = run_in_process(
        tmp_path, "privacy=secagg", "federation.fraction_train=0.3", "federation.min_clients=1"
    )
    assert "at least 2 clients in a round, got 1" in summary["history"][0]["skipped"]
