"""``train.device``: resolution, validation, and the device code path run on the CPU by config."""

import numpy as np
import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord

from fedsim import wire
from fedsim.client.learners import get_learner
from fedsim.client.state import ClientState
from fedsim.client.training_loop import evaluate, train_local
from fedsim.config.validate import _check_device, validate_values
from fedsim.device import (
    assigned_gpu_ids,
    client_device,
    cpu_state_dict,
    driver_device,
    model_device,
    resolve_device,
)
from fedsim.errors import ConfigError
from fedsim.experiment import Experiment, get_experiment
from fedsim.server.app import train_config
from tests.conftest import SMALL, compose

CUDA = torch.cuda.is_available()


@pytest.mark.parametrize(
    ("name", "cuda", "ids", "expected"),
    [
        ("auto", False, [], "cpu"),
        ("auto", False, ["0"], "cpu"),  # Ray assigned a GPU but this torch has no CUDA
        ("auto", True, [], "cpu"),  # backend.client_gpus=0: no GPU reserved for the actor
        ("auto", True, ["1"], "cuda:0"),  # Ray remaps the assigned GPU to index 0
        ("auto", True, [3, 5], "cuda:0"),
        ("cpu", True, ["0"], "cpu"),
        ("cuda", True, [], "cuda:0"),
    ],
)
def test_resolve_device(name, cuda, ids, expected):
    assert resolve_device(name, cuda_available=cuda, gpu_ids=ids) == expected


def test_resolve_device_refuses_cuda_without_cuda_and_unknown_names():
    with pytest.raises(ValueError, match="train.device=cuda: CUDA is not available"):
        resolve_device("cuda", cuda_available=False, gpu_ids=["0"])
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu", cuda_available=True, gpu_ids=[])


def test_validation_refuses_cuda_without_cuda_in_one_line():
    cfg = compose(*SMALL, "train.device=cuda")
    with pytest.raises(ConfigError) as err:
        _check_device(cfg, cuda_available=False)
    assert err.value.key == "train.device" and "\n" not in str(err.value)
    _check_device(cfg, cuda_available=True)  # a CUDA machine accepts it
    _check_device({**cfg, "backend": {**cfg["backend"], "ray_address": "ray://x:1"}},
                  cuda_available=False)  # an existing cluster: each client checks


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_validate_values_refuses_cuda_here():
    with pytest.raises(ConfigError, match="train.device.*cuda requested"):
        validate_values(compose(*SMALL, "train.device=cuda"))


def test_validate_values_refuses_an_unknown_device():
    with pytest.raises(ConfigError, match="train.device.*unknown value 'gpu'"):
        validate_values(compose(*SMALL, "train.device=gpu"))


def test_assigned_gpus_follow_cuda_visible_devices_outside_ray(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert assigned_gpu_ids() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert assigned_gpu_ids() == []


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_auto_and_cpu_resolve_to_the_cpu_here():
    for name in ("auto", "cpu"):
        cfg = {"train": {"device": name}}
        assert client_device(cfg) == torch.device("cpu")
        assert driver_device(cfg) == torch.device("cpu")
    assert client_device({"train": {}}) == torch.device("cpu")  # older configs: auto


def test_cpu_state_dict_and_model_device():
    model = torch.nn.Linear(3, 2)
    state = cpu_state_dict(model)
    assert list(state) == ["weight", "bias"] and all(t.device.type == "cpu" for t in state.values())
    assert model_device(model) == torch.device("cpu")
    assert model_device(torch.nn.Identity()) == torch.device("cpu")
    ArrayRecord(state)  # goes on the wire as is


def _weights_train(exp: Experiment):
    cfg = ConfigRecord({**train_config(exp.cfg), wire.LR: 0.05})
    arrays = ArrayRecord(exp.make_model().state_dict())
    rnd = exp.plan.streams[1].slots[0].start_round
    return get_learner("weights").train(exp, 1, rnd, arrays, cfg, ClientState())


def test_train_device_cpu_gives_the_same_numbers_as_the_default():
    default = _weights_train(get_experiment(compose(*SMALL)))
    cpu = _weights_train(get_experiment(compose(*SMALL, "train.device=cpu")))
    assert cpu.metrics[wire.TRAIN_LOSS] == default.metrics[wire.TRAIN_LOSS]
    for key in default.arrays.keys():
        assert np.array_equal(cpu.arrays[key].numpy(), default.arrays[key].numpy())
    exp = get_experiment(compose(*SMALL, "train.device=cpu"))
    model = exp.make_model()
    assert np.array_equal(exp.task_accuracies(model), get_experiment(
        compose(*SMALL)).task_accuracies(exp.make_model()))
    assert model_device(model).type == "cpu"  # moved back where it was


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (benchmarks/gpu_check.sh)")
def test_the_loop_on_cuda_matches_the_cpu_closely():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    out = {}
    for dev in ("cpu", "cuda:0"):
        torch.manual_seed(0)
        model = torch.nn.Linear(5, 3).to(dev)
        train_local(model, x, y, epochs=2, batch_size=8, lr=0.1,
                    rng=np.random.default_rng(1), class_mask=[0, 1])
        out[dev] = (cpu_state_dict(model), evaluate(model, x, y, class_mask=[0, 1]))
    for k, v in out["cpu"][0].items():
        assert torch.allclose(v, out["cuda:0"][0][k], atol=1e-5)
    assert out["cpu"][1][1] == pytest.approx(out["cuda:0"][1][1])



def test_every_learner_asks_for_the_client_device(monkeypatch):
    """Weights, prototypes and adapters place their model via ``client_device`` (CPU here)."""
    import fedsim.client.learners.adapters as adapters_mod
    import fedsim.client.learners.prototypes as protos_mod
    import fedsim.client.learners.weights as weights_mod
    from tests.client.plugins.test_loop_assembly import adapter_train, proto_train, round_config

    calls: list[str] = []

    def spy(name):
        def device(cfg):
            calls.append(name)
            return torch.device("cpu")
        return device

    for mod, name in ((weights_mod, "weights"), (protos_mod, "prototypes"),
                      (adapters_mod, "adapters")):
        monkeypatch.setattr(mod, "client_device", spy(name))
    exp = get_experiment(compose(*SMALL, "train.device=cpu"))
    out = _weights_train(exp)
    assert calls == ["weights"]
    assert all(isinstance(out.arrays[k].numpy(), np.ndarray) for k in out.arrays.keys())
    proto_train(exp, round_config())
    adapter_train({})
    assert calls == ["weights", "prototypes", "adapters"]
