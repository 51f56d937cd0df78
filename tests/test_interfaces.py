"""Every shipped component declares its extension point; the engine calls only declared hooks."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from flwr.app import Array, ArrayRecord
from flwr.serverapp.strategy import FedAdam, FedAvg

from fedsim.client.learners import LEARNERS, get_learner
from fedsim.errors import ConfigError
from fedsim.interfaces import (
    ClientLearner,
    ClientSelection,
    Curriculum,
    LRController,
    StrategyHooks,
    require,
    strategy_hooks,
)
from tests.conftest import REPO

INTERFACE_OF_GROUP = {"selection": ClientSelection, "lr": LRController, "curriculum": Curriculum}
ENGINE = ["fedsim/server/app.py", "fedsim/server/round_loop.py"]


def target_class(path: Path) -> type:
    module, _, name = yaml.safe_load(path.read_text())["_target_"].rpartition(".")
    return vars(importlib.import_module(module))[name]


@pytest.mark.parametrize("group", sorted(INTERFACE_OF_GROUP))
def test_every_config_option_implements_its_interface(group):
    files = sorted((REPO / "configs" / group).glob("*.yaml"))
    assert files
    for path in files:
        cls = target_class(path)
        assert issubclass(cls, INTERFACE_OF_GROUP[group]), f"{path.name}: {cls.__name__}"


def test_fedsim_strategies_declare_hooks_and_flower_ones_get_defaults():
    own = {"strategies.fedproto", "strategies.fedrecon", "strategies.adapter_avg"}
    own |= {"strategies.adapter_bank", "strategies.fot", "strategies.pilora", "strategies.target"}
    for path in sorted((REPO / "configs" / "strategy").glob("*.yaml")):
        cls = target_class(path)
        assert issubclass(cls, StrategyHooks) == (cls.__module__ in own), path.name


def test_default_hooks_change_nothing():
    arrays = ArrayRecord({"w": Array(np.ones(2, dtype=np.float32))})
    for strategy in (FedAvg(), FedAdam()):
        hooks = strategy_hooks(strategy)
        assert hooks is not strategy and type(hooks) is StrategyHooks
        assert hooks.initial_arrays(None, arrays) is arrays
        assert hooks.check_experiment(None) is None
        assert hooks.reference_arrays(arrays) is arrays
        assert hooks.check_reply(None) is None


def test_every_registered_learner_is_a_client_learner():
    assert sorted(LEARNERS) == ["adapters", "pilora", "prototypes", "weights"]
    for name in LEARNERS:
        assert isinstance(get_learner(name), ClientLearner), name


def test_a_component_without_the_interface_is_refused_with_one_line():
    class Ranked:
        def select(self, server_round, active):
            return active

    with pytest.raises(ConfigError) as err:
        require(Ranked(), ClientSelection, "selection")
    assert str(err.value) == (
        "selection: Ranked does not subclass fedsim.interfaces.ClientSelection "
        "(missing: bind, client_config, explain, load_state_dict, observe, scalars, state_dict)"
    )
    with pytest.raises(ConfigError, match="curriculum: dict does not implement .*Curriculum"):
        require({}, Curriculum, "curriculum")


def test_the_engine_calls_declared_methods_only():
    """No getattr/hasattr/callable probes of components in the server app and round loop."""
    for rel in ENGINE:
        tree = ast.parse((REPO / rel).read_text())
        probes = [
            f"{rel}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "callable"}
        ]
        assert not probes, probes
