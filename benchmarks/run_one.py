"""Run one implementation on one workload; print a JSON line with its timings.

    python -m benchmarks.run_one --impl fedsim --registered 1000 --model mlp --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

T0 = time.perf_counter()

# fedsim variants: name -> extra Hydra overrides
VARIANTS = {
    "fedsim": [],
    "fedsim-unpacked": ["backend.max_messages=0"],
    "fedsim-fedprox": ["strategy=fedprox"],
}


def gpu_memory() -> dict:
    """This process's peak GPU memory in MB, when CUDA is present (fedsim: the driver only)."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20,
            "gpu_name": torch.cuda.get_device_name(0)}


def main() -> None:
    """Parse arguments, run, print the result as the last stdout line."""
    from fedsim.env import set_defaults

    set_defaults()
    p = argparse.ArgumentParser()
    p.add_argument("--impl", choices=list(VARIANTS) + ["flower", "raw"], required=True)
    p.add_argument("--registered", type=int, required=True)
    p.add_argument("--sampled", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="train.device of fedsim / the raw loop's device (plain Flower: cpu)")
    a = p.parse_args()
    if a.device == "cuda" and not gpu_memory():
        p.error("--device cuda: CUDA is not available (README 'GPU install')")
    if a.impl == "raw":
        from benchmarks.impl_raw import run
    elif a.impl == "flower":
        from benchmarks.impl_flower import run
    else:
        from benchmarks.impl_fedsim import run
    kwargs = {"extra": VARIANTS[a.impl]} if a.impl in VARIANTS else {}
    if a.impl != "flower":
        kwargs["device"] = a.device
    res = run(a.registered, a.sampled, a.rounds, a.model, **kwargs)
    wall = time.perf_counter() - T0
    times = res["round_times"]
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    res.update(
        impl=a.impl, registered=a.registered, sampled=a.sampled, model=a.model, wall_s=wall,
        steady_round_s=steady, startup_s=wall - steady * len(times),
        first_round_extra_s=times[0] - steady,
        updates_per_s=a.sampled / steady if steady > 0 else None, device=a.device,
        **gpu_memory(),
    )
    print(json.dumps(res))


if __name__ == "__main__":
    main()
    from fedsim.cli.exit import exit_process

    exit_process(0)  # like the fedsim command: no interpreter teardown (every impl alike)
