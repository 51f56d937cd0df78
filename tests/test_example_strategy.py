"""The "write your own strategy" example (docs/examples/my_strategy.py) works as documented."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, Message, Metadata, MetricRecord, RecordDict

from fedsim import wire
from fedsim.interfaces import StrategyHooks, strategy_hooks
from tests.conftest import REPO, SMALL, cli_env

# the path the YAML's _target_ names, imported the way the resolver imports it
example = importlib.import_module("docs.examples.my_strategy")

START = {"w": np.array([0.0, 0.0], dtype=np.float32), "b": np.array([1.0], dtype=np.float32)}
# updates of norm 5 (clipped to 2: scale 0.4), 1 and exactly 2 (both kept)
CLIENTS = [
    {"w": np.array([3.0, 4.0]), "b": np.array([1.0])},
    {"w": np.array([0.6, 0.8]), "b": np.array([1.0])},
    {"w": np.array([0.0, 0.0]), "b": np.array([3.0])},
]
WEIGHTS = [1, 2, 1]
# w = (1 * 0.4 * [3, 4] + 2 * [0.6, 0.8] + 1 * [0, 0]) / 4 = [0.6, 0.8]
# b = 1 + (1 * 0 + 2 * 0 + 1 * 2) / 4 = 1.5
EXPECTED = {"w": [0.6, 0.8], "b": [1.5]}


def test_clipped_mean_matches_hand_computed_values():
    new, clipped = example.clipped_mean(START, CLIENTS, WEIGHTS, max_norm=2.0)
    assert clipped == 1
    for key, want in EXPECTED.items():
        np.testing.assert_allclose(new[key], want, rtol=1e-6)
        assert new[key].dtype == np.float32


def test_no_clipping_is_plain_fedavg():
    new, clipped = example.clipped_mean(START, CLIENTS, WEIGHTS, max_norm=100.0)
    assert clipped == 0
    np.testing.assert_allclose(new["w"], (np.array([3.0, 4.0]) + 2 * np.array([0.6, 0.8])) / 4)


def reply(arrays: dict, n: int, loss: float) -> Message:
    metrics = MetricRecord({wire.NUM_EXAMPLES: n, wire.TRAIN_LOSS: loss})
    content = RecordDict({wire.ARRAYS: ArrayRecord(arrays), wire.METRICS: metrics})
    meta = Metadata(
        run_id=1,
        message_id=f"reply-{n}",
        src_node_id=n,
        dst_node_id=0,
        reply_to_message_id=f"train-{n}",
        group_id="1",
        created_at=0.0,
        ttl=3600.0,
        message_type="train",
    )
    return Message(content=content, metadata=meta)


def test_strategy_aggregates_flower_replies_and_declares_its_hooks():
    strat = example.ClippedFedAvg(max_norm=2.0, min_available_nodes=1)
    assert strategy_hooks(strat) is strat and isinstance(strat, StrategyHooks)
    # what configure_train remembers (building messages needs a running Flower app: the
    # integration test below covers it)
    strat.start = ArrayRecord({k: Array(v) for k, v in START.items()})
    replies = [
        reply({k: Array(v.astype(np.float32)) for k, v in c.items()}, n, loss)
        for c, n, loss in zip(CLIENTS, WEIGHTS, [1.0, 2.0, 5.0], strict=True)
    ]
    arrays, metrics = strat.aggregate_train(1, replies)
    for key, want in EXPECTED.items():
        np.testing.assert_allclose(arrays[key].numpy(), want, rtol=1e-6)
    assert metrics[wire.TRAIN_LOSS] == pytest.approx((1 * 1.0 + 2 * 2.0 + 1 * 5.0) / 4)
    assert strat.clipped_share == pytest.approx(1 / 3)


def test_bad_max_norm_is_refused():
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        example.ClippedFedAvg(max_norm=0)


@pytest.mark.integration
def test_example_runs_from_its_yaml(tmp_path):
    """`fedsim --config-dir docs/examples/configs strategy=clipped_fedavg`: a real Ray run."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedsim",
            "--config-dir",
            str(REPO / "docs" / "examples" / "configs"),
            "strategy=clipped_fedavg",
            *SMALL,
            f"output.root={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(),
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = [p.parent for p in tmp_path.rglob("summary.json")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rejected_replies"] == 0
    assert summary["final"]["acc"] > 0.3, "two tasks of two digits: the federation must learn"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    shares = [e.value for e in events.Scalars("strategy/clipped_share")]
    assert len(shares) == summary["rounds"] and all(0.0 <= s <= 1.0 for s in shares)
