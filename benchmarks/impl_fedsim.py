"""(a) fedsim on the same workload (FedAvg, or a continual-learning strategy by override)."""

from __future__ import annotations


def run(registered: int, sampled: int, rounds: int, model_name: str, seed: int = 0,
        extra: list[str] | None = None, device: str = "cpu") -> dict:
    """Run fedsim's simulation runtime in-process; return per-round times and the final accuracy."""
    import tempfile
    from pathlib import Path

    from omegaconf import OmegaConf

    from fedsim.config.compose import compose_config
    from fedsim.config.validate import validate_objects, validate_values
    from fedsim.runtime.ray_start import start_ray
    from fedsim.runtime.simulation import run_in_simulation

    model = ["model=mlp", "model.hidden=[64]"] if model_name == "mlp" else ["model=cnn"]
    overrides = [
        f"seed={seed}", *model, "train.epochs=1", "train.batch_size=16", "train.lr=0.05",
        f"federation.fraction_train={sampled / registered}", "eval.client_boundary=false",
        "log.progress=false", f"train.device={device}",
        *(["backend.client_gpus=0.5"] if device == "cuda" else []), *(extra or []),
    ]
    cfg = OmegaConf.to_container(compose_config(overrides), resolve=True)
    cfg["scenario"] = {"_target_": "benchmarks.workload.iid_clients", "name": "bench_iid",
                       "num_clients": registered, "num_rounds": rounds}
    validate_values(cfg)
    start_ray(cfg)  # as the fedsim CLI does: Ray starts during the dry build
    validate_objects(cfg)
    run_dir = Path(tempfile.mkdtemp(prefix="fedsim-bench-"))
    summary = run_in_simulation(cfg, run_dir)
    return {"round_times": [r["round_time_s"] for r in summary["history"]],
            "final_acc": summary["final_central_acc"]}
