"""DP-SGD in the one loop: per-example clipping, noise scale, accounting across rounds and tasks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from fedsim.client.plugins.dp_sgd import DpSgd, clipped_sum, refuse_batch_norm
from fedsim.client.training_loop import StepInfo
from fedsim.privacy import accountant
from fedsim.privacy.accountant import GaussianSteps
from fedsim.server.state import CHECKPOINT_NAME, checkpoint_round
from tests.conftest import SMALL, compose
from tests.fake_grid import EngineStoppedError, run_on_fake_grid
from tests.server import resume_cases

pytest.importorskip("opacus")


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


def batch(n: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(n, 6, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y


def info_of(model, x, y, mask=None) -> StepInfo:
    return StepInfo(0, 0, 0.1, x, y, model(x), mask)


def plugin(model, z: float, c: float, seed: int = 0) -> DpSgd:
    return DpSgd(model, noise_multiplier=z, clip_norm=c, num_examples=100, batch_size=8,
                 delta=1e-5, history=[], seed=seed)  # fmt: skip


def reference_gradient(model, x, y, c, mask=None) -> list[torch.Tensor]:
    """Abadi et al. Alg. 1 without noise, one example at a time through autograd."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    for i in range(len(y)):
        out = model(x[i : i + 1])
        if mask is not None:
            out = out + mask
        grads = torch.autograd.grad(nn.functional.cross_entropy(out, y[i : i + 1]), params)
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        factor = min(1.0, c / (float(norm) + 1e-6))
        total = [t + g * factor for t, g in zip(total, grads, strict=True)]
    return [t / len(y) for t in total]


@pytest.mark.parametrize("clip", [0.05, 1.0, 1e6])
def test_noiseless_gradient_equals_per_example_clipping_by_hand(clip):
    model = small_model()
    x, y = batch()
    got = plugin(model, 0.0, clip).data_gradients(model, info_of(model, x, y))
    want = reference_gradient(model, x, y, clip)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_masked_logits_are_respected():
    model = small_model()
    x, y = batch()
    y = y % 2
    mask = torch.tensor([0.0, 0.0, float("-inf")])
    got = plugin(model, 0.0, 0.3).data_gradients(model, info_of(model, x, y, mask))
    want = reference_gradient(model, x, y, 0.3, mask)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_every_clipped_example_is_inside_the_ball():
    g = torch.Generator().manual_seed(0)
    per = [10 * torch.randn(16, 4, 3, generator=g), torch.randn(16, 5, generator=g)]
    summed, clipped = clipped_sum(per, 1.0)
    norms = torch.sqrt(sum(p.reshape(16, -1).pow(2).sum(1) for p in per))
    factors = torch.clamp(1.0 / (norms + 1e-6), max=1.0)
    clipped_norms = norms * factors
    assert bool((clipped_norms <= 1.0 + 1e-6).all())
    assert clipped == int((norms > 1.0).sum())
    want = sum(per[0][i] * factors[i] for i in range(16))
    torch.testing.assert_close(summed[0], want)


def test_noise_std_is_z_c_over_batch():
    torch.manual_seed(0)
    model = nn.Linear(100, 50)
    x, y = torch.randn(8, 100), torch.randint(0, 50, (8,))
    z, c = 1.3, 0.5
    clean = plugin(model, 0.0, c).data_gradients(model, info_of(model, x, y))
    noisy = plugin(model, z, c, seed=4).data_gradients(model, info_of(model, x, y))
    noise = torch.cat([(a - b).flatten() for a, b in zip(noisy, clean, strict=True)])
    assert float(noise.std()) == pytest.approx(z * c / 8, rel=0.03)
    again = plugin(model, z, c, seed=4).data_gradients(model, info_of(model, x, y))
    torch.testing.assert_close(again[0], noisy[0])  # seeded


def test_batch_norm_models_are_refused():
    with pytest.raises(ValueError, match="BatchNorm"):
        refuse_batch_norm(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)))


# ------------------------------------------------------------------- whole runs (fake grid)
FAST = [*SMALL, "train.epochs=1", "privacy=dp_sgd", "privacy.noise_multiplier=1.1"]


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("dp")
    cfg = compose(*FAST, f"output.root={root}")
    summary, _ = run_on_fake_grid(cfg, root / "run")
    return cfg, summary


@pytest.mark.integration  # a whole run (fake grid, real ServerApp body and ClientApp)
def test_reported_epsilon_is_over_every_client_and_never_decreases(dp_run):
    _, summary = dp_run
    privacy = summary["privacy"]
    assert privacy["mode"] == "dp_sgd" and privacy["delta"] == 1e-5
    eps = {int(c): e for c, e in privacy["client_epsilon"].items()}
    assert sorted(eps) == [0, 1, 2, 3]
    assert privacy["epsilon"] == pytest.approx(max(eps.values()))
    assert privacy["epsilon_mean"] == pytest.approx(np.mean(list(eps.values())))
    assert privacy["noise_multiplier"] == 1.1 and 0 < privacy["clipped_fraction"] <= 1
    running = [r["privacy"]["epsilon"] for r in summary["history"]]
    assert running == sorted(running) and running[-1] == privacy["epsilon"]


@pytest.mark.integration  # a whole run (fake grid, real ServerApp body and ClientApp)
def test_client_epsilon_is_its_rounds_composed_and_sitting_out_adds_nothing(dp_run):
    """Cohorts [0,3] [0-3] [1,2]: client 0 trains rounds 1 and 2 (tasks 0 and 1), not 3."""
    from fedsim.experiment import get_experiment

    cfg, summary = dp_run
    exp = get_experiment(cfg)
    batch_size = int(cfg["train"]["batch_size"])
    stream = exp.plan.streams[0]
    steps = []
    for rnd in (1, 2):
        n = len(stream.slots[stream.slot_at(rnd)].train_idx)
        steps.append(GaussianSteps(1.1, min(1.0, batch_size / n), -(-n // batch_size)))
    assert stream.slot_at(1) != stream.slot_at(2)  # two different tasks
    want = accountant.epsilon(steps, 1e-5)
    assert summary["privacy"]["client_epsilon"]["0"] == pytest.approx(want, rel=1e-9)
    assert want > accountant.epsilon(steps[:1], 1e-5)
    rows = summary["history"]
    assert rows[1]["privacy"]["epsilon"] <= rows[2]["privacy"]["epsilon"]


@pytest.mark.integration  # a whole run (fake grid, real ServerApp body and ClientApp)
def test_resume_continues_the_accounting(dp_run, tmp_path):
    _, whole = dp_run
    cfg = compose(*FAST, f"output.root={tmp_path}")
    run_dir = tmp_path / "stopped"
    with pytest.raises(EngineStoppedError):
        run_on_fake_grid(cfg, run_dir, stop_before_send=3)
    assert checkpoint_round(run_dir / CHECKPOINT_NAME) == 1
    resumed, _ = run_on_fake_grid(cfg, run_dir, resume=True)
    a = json.dumps(resume_cases.comparable(resumed)["privacy"], sort_keys=True)
    b = json.dumps(resume_cases.comparable(whole)["privacy"], sort_keys=True)
    assert a == b
    assert resumed["final"] == whole["final"]
