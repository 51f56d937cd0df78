"""PILoRA's orthogonality term against a second implementation from the paper's definition."""

import numpy as np
import torch

from fedsim.client.plugins.orthogonal_lora import (
    OrthogonalLoRA,
    lora_a_pairs,
    orthogonality_penalty,
)
from fedsim.client.training_loop import StepInfo


def paper_l_ort(current, previous):
    """sum over layers l, earlier tasks s, rows i of A_s and rows j of A_t: |<a_s,i , a_t,j>|."""
    total = 0.0
    for a_t, olds in zip(current, previous, strict=True):
        rows_t = np.asarray(a_t, dtype=np.float64).reshape(len(a_t), -1)
        for a_s in olds:
            rows_s = np.asarray(a_s, dtype=np.float64).reshape(len(a_s), -1)
            for i in range(rows_s.shape[0]):
                for j in range(rows_t.shape[0]):
                    total += abs(float(np.dot(rows_s[i], rows_t[j])))
    return total


def test_penalty_matches_the_definition_on_random_linear_and_conv_shapes():
    rng = np.random.default_rng(0)
    shapes = [(4, 7), (3, 2, 3, 3)]  # a Linear A [r, in] and a Conv2d A [r, in, k, k]
    current = [rng.normal(size=s) for s in shapes]
    previous = [[rng.normal(size=s) for _ in range(n)] for s, n in zip(shapes, (2, 3), strict=True)]
    got = orthogonality_penalty(
        [torch.tensor(a) for a in current], [[torch.tensor(a) for a in olds] for olds in previous]
    )
    np.testing.assert_allclose(float(got), paper_l_ort(current, previous), rtol=1e-10)


def test_penalty_is_zero_for_orthogonal_rows_and_its_gradient_reaches_only_a_t():
    a_s = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    a_t = torch.tensor([[0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]], requires_grad=True)
    assert orthogonality_penalty([a_t], [[a_s]]).item() == 0.0
    tilted = torch.tensor([[1.0, 1.0, 0.0, 0.0]], requires_grad=True)
    frozen = a_s.clone().requires_grad_(False)
    orthogonality_penalty([tilted], [[frozen]]).backward()
    np.testing.assert_allclose(tilted.grad.numpy(), [[1.0, 0.0, 0.0, 0.0]])  # d|x0|/dx = sign


def test_pairs_are_found_by_layer_in_a_peft_model_and_the_plugin_weights_them():
    from fedsim.adapters.lora import add_lora

    net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    for slot in ("task", "old0", "old2"):
        net = add_lora(net, ["0", "2"], rank=2, alpha=4, slot=slot)
    current, previous = lora_a_pairs(net, "task", ["old0", "old2"])
    named = dict(net.named_parameters())
    assert current[0] is named["0.lora_A.task.weight"]
    assert [p.shape for p in previous[1]] == [(2, 6), (2, 6)]
    assert all(not p.requires_grad for olds in previous for p in olds)  # detached copies
    plugin = OrthogonalLoRA(current, previous, gamma=0.5)
    info = StepInfo(0, 0, 0.1, torch.zeros(1, 5), torch.zeros(1, dtype=torch.long),
                    torch.zeros(1, 3))
    want = 0.5 * paper_l_ort([p.detach().numpy() for p in current],
                             [[p.numpy() for p in olds] for olds in previous])
    np.testing.assert_allclose(float(plugin.extra_loss(net, info)), want, rtol=1e-5)
    assert OrthogonalLoRA(current, [[], []], gamma=0.5).extra_loss(net, info) is None
