"""Run the one local training loop with the example plugin on random data."""

import numpy as np
import torch

from docs.examples.own_plugin import ConfidencePenalty
from fedsim.client.training_loop import train_local

torch.manual_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 8)).astype(np.float32)
y = rng.integers(0, 3, size=64)
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
penalty = ConfidencePenalty(beta=0.5)
result = train_local(model, x, y, epochs=2, batch_size=16, lr=0.1, rng=rng, plugins=[penalty])
entropy = penalty.metrics()["entropy"]
print(f"loss {result.loss:.3f} over {result.steps} steps, entropy {entropy:.3f}")
