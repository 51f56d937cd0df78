"""(c) A raw sequential PyTorch loop, no framework: the floor of this machine."""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.common import accuracy, data, make_model, train_epoch
from benchmarks.workload import SAMPLES_PER_CLIENT, client_indices


def run(registered: int, sampled: int, rounds: int, model_name: str, seed: int = 0,
        device: str = "cpu") -> dict:
    """Run the workload; return per-round times and the final accuracy."""
    torch.set_num_threads(1)
    d = data()
    model = make_model(model_name).to(device)
    keys = list(model.state_dict())
    times = []
    for rnd in range(1, rounds + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([seed, rnd])
        cohort = np.sort(rng.choice(registered, size=min(sampled, registered), replace=False))
        states, weights = [], []
        for cid in cohort:
            local = make_model(model_name).to(device)
            local.load_state_dict(model.state_dict())
            idx = client_indices(seed, int(cid), len(d.y_train), SAMPLES_PER_CLIENT)
            rng_c = np.random.default_rng([seed, rnd, cid])
            train_epoch(local, d.x_train[idx], d.y_train[idx], rng_c)
            states.append(local.state_dict())
            weights.append(len(idx))
        w = np.asarray(weights, dtype=np.float64) / sum(weights)
        model.load_state_dict(
            {k: sum(float(wi) * s[k] for wi, s in zip(w, states, strict=True)) for k in keys}
        )
        acc = accuracy(model)
        times.append(time.perf_counter() - t0)
    return {"round_times": times, "final_acc": acc}
