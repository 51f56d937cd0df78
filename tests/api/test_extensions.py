"""A user's own package plugs in through entry points and ``_target_`` - only declared keys pass.

The package is ``docs/examples/own_strategy_package``, installed into tmp_path with a real
``.dist-info`` (``tests/api/user_package.py``); the run uses the real ClientApp on the fake
grid (no Ray).
"""

from __future__ import annotations

import json

import pytest

from fedsim.api import compose
from fedsim.config.validate import validate
from fedsim.errors import ConfigError
from fedsim.registry import ENTRY_POINT_GROUPS, registered
from tests.fake_grid import run_on_fake_grid

OWN = [
    "data._target_=blobs",
    "scenario._target_=two_tasks",
    "scenario.num_clients=2",
    "strategy._target_=damped_fedavg",
    "strategy.client_learner=counting",
    "+strategy.plugins=[l2_pull]",
    "train.epochs=1",
]


def test_the_example_package_declares_every_documented_group(user_pkg):
    assert set(user_pkg) <= set(ENTRY_POINT_GROUPS.values())
    for kind in ("data", "scenario", "strategy", "learner", "plugin"):
        assert registered(kind), kind  # discovered through importlib.metadata


def test_inherited_keys_do_not_leak_into_an_own_target(user_pkg, tmp_path):
    cfg = compose([*OWN, f"output.root={tmp_path}"])
    assert sorted(cfg["data"]) == ["_target_", "name"]  # digits' test_fraction, split_seed gone
    assert sorted(cfg["scenario"]) == ["_target_", "name", "num_clients"]
    assert cfg["strategy"]["plugins"] == ["l2_pull"]
    assert cfg["strategy"]["client_learner"] == "counting"
    validate(cfg)


def test_a_key_the_own_target_does_not_declare_is_refused_by_name(user_pkg, tmp_path):
    cfg = compose(["data._target_=blobs", "data.test_fraction=0.3", f"output.root={tmp_path}"])
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert info.value.key == "data.test_fraction"
    assert "it takes: dim, num_classes, per_class, seed" in str(info.value)


def test_unknown_registered_names_list_what_is_installed(user_pkg, tmp_path):
    with pytest.raises(ConfigError, match=r"fedsim.strategies': damped_fedavg\)"):
        validate(compose(["strategy._target_=nosuch", f"output.root={tmp_path}"]))
    with pytest.raises(ConfigError, match=r"^strategy.client_learner: unknown learner 'x'.*ting"):
        validate(compose(["strategy.client_learner=x", f"output.root={tmp_path}"]))
    with pytest.raises(ConfigError, match=r"^strategy.plugins: 'nope' is neither.*l2_pull"):
        validate(compose(["+strategy.plugins=[nope]", f"output.root={tmp_path}"]))


def test_own_data_scenario_strategy_learner_and_plugin_run(user_pkg, tmp_path):
    from my_fedsim_ext import learner, plugin

    cfg = compose([*OWN, f"output.root={tmp_path}"])
    validate(cfg)
    learner.TRAINED.clear()
    plugin.CALLS[0] = 0
    summary, _ = run_on_fake_grid(cfg, tmp_path / "run")
    assert summary["rounds"] == 2 and summary["final"]["acc"] is not None
    assert sorted(learner.TRAINED) == [(0, 1), (0, 2), (1, 1), (1, 2)]  # 2 clients x 2 rounds
    assert plugin.CALLS[0] > 0  # the plugin's term was added to batch losses


def test_the_plugin_changes_training(user_pkg, tmp_path):
    """Same seed, with and without the plugin: the plugin's term is really in the loss."""
    base = [o for o in OWN if "plugins" not in o]
    runs = []
    for name, extra in (("with", ["+strategy.plugins=[l2_pull]"]), ("without", [])):
        cfg = compose([*base, *extra, f"output.root={tmp_path}", "eval.client_boundary=false"])
        summary, _ = run_on_fake_grid(cfg, tmp_path / name)
        runs.append(summary["history"][-1]["train_loss"])
    assert runs[0] != runs[1]


def test_an_own_strategy_weights_training_by_a_metric_its_plugin_sends(user_pkg, tmp_path):
    """``weighted_by_key`` weights the training aggregate; evaluation stays by examples."""
    runs = {}
    for name, extra in (("examples", []), ("norm", ["+strategy.weighted_by_key=l2-norm"])):
        cfg = compose([*OWN, *extra, f"output.root={tmp_path}"])
        validate(cfg)
        summary, _ = run_on_fake_grid(cfg, tmp_path / name)
        assert summary["status"] == "completed" and summary["rejected_replies"] == 0, name
        runs[name] = summary
    # round 2 starts from a differently weighted average: its training loss differs
    assert runs["norm"]["history"][-1]["train_loss"] != runs["examples"]["history"][-1][
        "train_loss"]  # fmt: skip


def test_a_weight_key_no_client_sends_rejects_every_reply_by_name(user_pkg, tmp_path):
    cfg = compose([*OWN, "+strategy.weighted_by_key=nosuch", f"output.root={tmp_path}"])
    summary, _ = run_on_fake_grid(cfg, tmp_path / "run")
    assert summary["rejected_replies"] == 4 and summary["status"] != "completed"
    assert "metrics.nosuch' (strategy.weighted_by_key)" in json.dumps(summary)
