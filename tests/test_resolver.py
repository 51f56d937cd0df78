"""fedsim.resolver: the Hydra-free ``_target_`` resolver every worker uses (DESIGN.md rule 8)."""

from __future__ import annotations

import numpy as np
import pytest

from fedsim.config.plain import config_from_json, config_to_json, plain_config
from fedsim.errors import ConfigError, DataError
from fedsim.resolver import build, locate

HERE = __name__


class Recorder:
    """A target that keeps what it was called with."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    @classmethod
    def named(cls, **kwargs):
        return cls(tag="named", **kwargs)


def plain_function(a, b=2):
    return ("called", a, b)


def raises(kind: str):
    errors = {
        "value": ValueError("first line\nbad value for 'alpha'"),
        "type": TypeError("missing 'beta'"),
        "runtime": RuntimeError("disk on fire"),
        "data": DataError("no such directory /data"),
        "config": ConfigError("scenario.alpha", "must be > 0"),
    }
    raise errors[kind]


NOT_CALLABLE = 42


def test_target_gets_spec_keys_and_extra_kwargs_without_name():
    obj = build({"_target_": f"{HERE}.Recorder", "name": "x", "alpha": 0.5}, "scenario", seed=3)
    assert isinstance(obj, Recorder)
    assert obj.kwargs == {"alpha": 0.5, "seed": 3}


def test_extra_kwargs_replace_spec_keys_and_are_passed_as_is():
    labels = np.arange(5)
    obj = build({"_target_": f"{HERE}.Recorder", "seed": 1}, "scenario", seed=9, labels=labels)
    assert obj.kwargs["seed"] == 9
    assert obj.kwargs["labels"] is labels  # run-time objects are not copied


def test_functions_and_class_attributes_resolve():
    assert build({"_target_": f"{HERE}.plain_function", "a": 1}, "g") == ("called", 1, 2)
    assert build({"_target_": f"{HERE}.Recorder.named", "k": 1}, "g").kwargs == {
        "tag": "named",
        "k": 1,
    }
    assert locate("fedsim.models.mlp.MLP", "model._target_").__name__ == "MLP"
    assert locate("flwr.serverapp.strategy.FedAvg", "s").__name__ == "FedAvg"


def test_real_config_components_build():
    from fedsim.models.mlp import MLP

    model = build(
        {"_target_": "fedsim.models.mlp.MLP", "name": "mlp", "hidden": [8]},
        "model",
        input_shape=[1, 8, 8],
        num_classes=3,
    )
    assert isinstance(model, MLP) and model.head.out_features == 3


def test_nested_values_are_copied_so_a_target_cannot_edit_the_config():
    spec = {"_target_": f"{HERE}.Recorder", "tasks": {"ordering": "anti"}, "bounds": [0.1, 1.0]}
    obj = build(spec, "curriculum")
    obj.kwargs["tasks"]["ordering"] = "changed"
    obj.kwargs["bounds"].append(5)
    assert spec["tasks"] == {"ordering": "anti"} and spec["bounds"] == [0.1, 1.0]
    tup = build({"_target_": f"{HERE}.Recorder", "pair": (1, 2)}, "g")
    assert tup.kwargs["pair"] == [1, 2]  # as Hydra's _convert_="all" gave


@pytest.mark.parametrize(
    "spec, key, needle",
    [
        ({"name": "x"}, "model", "needs a '_target_'"),
        ({"_target_": "nosuch.Thing"}, "model._target_", "no module named 'nosuch'"),
        ({"_target_": "fedsim.models.mlp.Nope"}, "model._target_", "'fedsim.models.mlp' has no"),
        ({"_target_": f"{HERE}.Recorder.nope"}, "model._target_", "has no 'nope'"),
        ({"_target_": "fedsim.wire"}, "model._target_", "not a class or function (it is a module)"),
        ({"_target_": f"{HERE}.NOT_CALLABLE"}, "model._target_", "(it is a int)"),
        ({"_target_": "MLP"}, "model._target_", "neither a dotted name"),
        ({"_target_": ""}, "model._target_", "not a dotted name"),
        ({"_target_": "a..b"}, "model._target_", "not a dotted name"),
        ({"_target_": ["a.b"]}, "model._target_", "not a dotted name"),
        ({"_target_": f"{HERE}.Recorder", "_partial_": True}, "model._partial_", "not supported"),
        ({"_target_": f"{HERE}.Recorder", "_args_": [1]}, "model._args_", "not supported"),
        ({"_target_": f"{HERE}.Recorder", "_convert_": "all"}, "model._convert_", "not supported"),
        ({"_target_": f"{HERE}.Recorder", "_recursive_": 0}, "model._recursive_", "not supported"),
        (
            {"_target_": f"{HERE}.Recorder", "inner": {"_target_": "fedsim.models.mlp.MLP"}},
            "model.inner._target_",
            "nested objects are not supported",
        ),
        (
            {"_target_": f"{HERE}.Recorder", "a": [{"b": {"_target_": "x.Y"}}]},
            "model.a[0].b._target_",
            "nested objects",
        ),
        (
            {"_target_": f"{HERE}.Recorder", "lr": "${train.lr}"},
            "model.lr",
            "unresolved interpolation",
        ),
        ({"_target_": f"{HERE}.Recorder", "x": {1: 2}}, "model.x", "key 1 is not a string"),
        ({"_target_": f"{HERE}.Recorder", "x": object()}, "model.x", "not a plain config value"),
    ],
)
def test_refusals_name_the_group_and_key(spec, key, needle):
    with pytest.raises(ConfigError) as info:
        build(spec, "model")
    assert info.value.key == key
    assert needle in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_a_module_that_fails_to_import_is_named(tmp_path, monkeypatch):
    (tmp_path / "broken_target_mod.py").write_text("import no_such_dependency_xyz\nclass A: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="cannot import 'broken_target_mod'.*no_such_dependency"):
        build({"_target_": "broken_target_mod.A"}, "data")
    (tmp_path / "raising_target_mod.py").write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(ConfigError, match="RuntimeError: boom at import"):
        build({"_target_": "raising_target_mod.A"}, "data")


@pytest.mark.parametrize(
    "kind, cls, text",
    [
        ("value", ConfigError, "scenario: bad value for 'alpha'"),  # last line, as with Hydra
        ("type", ConfigError, "scenario: missing 'beta'"),
        ("runtime", ConfigError, "scenario: RuntimeError: disk on fire"),
        ("data", DataError, "no such directory /data"),  # fedsim's own errors pass unchanged
        ("config", ConfigError, "scenario.alpha: must be > 0"),
    ],
)
def test_errors_of_the_target_become_one_line(kind, cls, text):
    with pytest.raises(cls) as info:
        build({"_target_": f"{HERE}.raises", "kind": kind}, "scenario")
    assert type(info.value) is cls and str(info.value) == text


class Declared:
    """A target that declares its keywords (no ``**kwargs``)."""

    def __init__(self, alpha: float = 1.0, *, seed: int = 0) -> None:
        self.alpha, self.seed = alpha, seed


def test_a_spec_key_the_target_does_not_declare_is_refused_naming_it():
    with pytest.raises(ConfigError) as info:
        build({"_target_": f"{HERE}.Declared", "alpah": 2.0}, "scenario")
    assert info.value.key == "scenario.alpah"
    assert "did you mean scenario.alpha?" in str(info.value) and "takes: alpha, seed" in str(
        info.value
    )
    with pytest.raises(ConfigError, match=r"^model: unknown keys model.bogus, model.x for"):
        build({"_target_": "fedsim.models.mlp.MLP", "bogus": 1, "x": 2}, "model", input_shape=[4])


def test_run_time_arguments_reach_only_targets_that_declare_them():
    obj = build({"_target_": f"{HERE}.Declared", "alpha": 3.0}, "scenario", seed=5, labels=[1])
    assert (obj.alpha, obj.seed) == (3.0, 5)  # `labels` not declared: not passed
    rec = build({"_target_": f"{HERE}.Recorder"}, "scenario", seed=5, labels=[1])
    assert rec.kwargs == {"seed": 5, "labels": [1]}  # **kwargs takes everything


def test_plain_config_round_trips_json_and_refuses_the_rest(small_cfg):
    assert config_from_json(config_to_json(small_cfg), "x") == small_cfg
    copy = plain_config(small_cfg)
    copy["train"]["lr"] = -1
    assert small_cfg["train"]["lr"] != -1
    with pytest.raises(ConfigError, match=r"^train\.lr: a ndarray is not a plain"):
        plain_config({**small_cfg, "train": {"lr": np.zeros(1)}})
    with pytest.raises(ConfigError, match="output.name: unresolved interpolation"):
        plain_config({"output": {"name": "${scenario.name}"}})
    with pytest.raises(ConfigError, match="not valid JSON"):
        config_from_json("{", "experiment config")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        config_from_json("[1]", "experiment config")
