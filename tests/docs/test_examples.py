"""Every code block of the how-to pages is a file under docs/examples/; this runs them.

The how-tos include these files verbatim (``--8<--`` snippets), so what a reader copies is
what ran here. The YAMLs are put into a composed config as Hydra would put a config-group
option, then validated and run on the fake grid (the real ClientApp, no Ray).
"""

import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from docs.examples.own_data import BlobsSource
from docs.examples.own_lr import ExponentialLR
from docs.examples.own_plugin import ConfidencePenalty, entropy
from docs.examples.own_scenario import two_halves
from fedsim.config.validate import validate
from fedsim.runtime.run_dir import write_config
from tests.conftest import SMALL, compose
from tests.fake_grid import run_on_fake_grid

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def option(group: str, name: str) -> dict:
    return yaml.safe_load((EXAMPLES / "configs" / group / f"{name}.yaml").read_text())


def test_blobs_source_loads_arrays_of_the_declared_shape():
    data = BlobsSource(per_class=20).load()
    assert data.x_train.shape == (80, 2) and data.x_train.dtype == np.float32
    assert sorted(np.unique(data.y_test)) == [0, 1, 2, 3] and data.input_shape == (2,)


def test_two_halves_is_pure_disjoint_and_covering():
    labels = np.repeat(np.arange(4), 10)
    plan = two_halves(train_labels=labels, test_labels=labels, seed=1, num_clients=3)
    again = two_halves(train_labels=labels, test_labels=labels, seed=1, num_clients=3)
    for tid in (0, 1):
        parts = [s.slots[tid].train_idx for s in plan.streams]
        joined = np.sort(np.concatenate(parts))
        assert len(joined) == len(set(joined.tolist())) == 20  # disjoint, covering the task
        assert set(labels[joined]) == set(plan.tasks[tid].classes)
    assert all(np.array_equal(a.slots[0].train_idx, b.slots[0].train_idx)
               for a, b in zip(plan.streams, again.streams, strict=True))
    with pytest.raises(ValueError, match="rounds_per_task"):
        two_halves(train_labels=labels, test_labels=labels, seed=1, rounds_per_task=0)


def test_exponential_lr_follows_its_formula():
    ctl = ExponentialLR(0.2, gamma=0.5)
    assert [ctl.client_config(t)["lr"] for t in (1, 2, 3)] == [0.2, 0.1, 0.05]
    with pytest.raises(ValueError, match="gamma"):
        ExponentialLR(0.1, gamma=0.0)


def test_entropy_matches_a_numpy_implementation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(axis=1, keepdims=True)
    want = float(np.mean(-(p * np.log(p)).sum(axis=1)))
    assert float(entropy(logits)) == pytest.approx(want, rel=1e-6)
    assert ConfidencePenalty(beta=0.0).extra_loss(None, None) is None


def test_plugin_script_runs_the_one_loop(capsys):
    runpy.run_path(str(EXAMPLES / "run_plugin.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.startswith("loss ") and "entropy" in out


def test_own_data_scenario_and_lr_run_from_their_yamls(tmp_path):
    cfg = compose(*SMALL, f"output.root={tmp_path}")
    cfg["data"] = option("data", "blobs")
    cfg["scenario"] = option("scenario", "two_halves")
    cfg["lr"] = {**option("lr", "exponential"), "gamma": 0.5}
    validate(cfg)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_config(run_dir, cfg)
    summary, _ = run_on_fake_grid(cfg, run_dir)
    assert summary["rounds"] == 4 and summary["status"] == "completed"
    lrs = [r["lr/client_mean"] for r in summary["history"]]
    assert lrs == pytest.approx([cfg["train"]["lr"] * 0.5 ** t for t in range(4)])
    assert summary["final_central_acc"] > 0.5  # four well separated blobs: it learns
