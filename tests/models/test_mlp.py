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
