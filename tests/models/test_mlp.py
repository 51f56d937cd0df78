import numpy as np
import pytest
import torch

from fedsim.errors import ConfigError
from fedsim.models.mlp import MLP


@pytest.mark.parametrize("hidden", [-1, 3, "abc", [], [0], [64, -2], [1.5], [True]])
def test_mlp_hidden_is_refused_with_the_key(hidden):
    with pytest.raises(ConfigError, match=r"^model\.hidden: "):
        MLP((8, 8), 10, hidden=hidden)


def test_mlp_hidden_accepts_integer_widths():
    model = MLP((8, 8), 10, hidden=[np.int64(16), 8])
    assert model(torch.zeros(2, 8, 8)).shape == (2, 10)


def test_resnet18_has_the_published_size_and_shapes():
    """11,173,962 parameters for CIFAR-10 is the widely reproduced count of ResNet-18 with the
    CIFAR stem (kuangliu/pytorch-cifar); 100 classes add 90 * 513 head parameters."""
    from fedsim.models.resnet import ResNet18

    for classes, expected in ((10, 11_173_962), (100, 11_173_962 + 90 * 513)):
        model = ResNet18((3, 32, 32), classes)
        assert sum(p.numel() for p in model.parameters()) == expected
    model = ResNet18((3, 32, 32), 100, width=4).eval()
    x = torch.randn(3, 3, 32, 32)
    assert model.embed(x).shape == (3, 32)
    assert model(x).shape == (3, 100)
    assert torch.allclose(model(x), model.head(model.embed(x)))


@pytest.mark.parametrize(
    ("shape", "width", "match"),
    [((3, 32), 64, r"^model: ResNet18 needs \(C, H, W\)"), ((3, 4, 4), 64, r"^model: .*8x8"),
     ((3, 32, 32), 0, r"^model\.width: "), ((3, 32, 32), 2.5, r"^model\.width: ")],
)
def test_resnet18_refuses_bad_input_with_the_key(shape, width, match):
    from fedsim.models.resnet import ResNet18

    with pytest.raises(ConfigError, match=match):
        ResNet18(shape, 10, width=width)
