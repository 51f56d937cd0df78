"""Resume cases shared by the in-process and the Ray resume tests: families, comparisons.

Every family whose state lives somewhere (strategy, LR controller, selection, curriculum,
fault model, deadline bookkeeping, client store) is run 4 rounds, interrupted once the
checkpoint holds round ``KILL_AT``, resumed, and compared with an uninterrupted run.
"""

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.server.round_record import TIMING_KEYS

BASE = [
    "scenario.num_clients=4",
    "scenario.num_tasks=2",
    "scenario.rounds_per_task=2",
    "scenario.max_arrival_delay=0",
    "train.epochs=1",
    "log.progress=false",
    "backend.ray_num_cpus=1",  # one actor per run: the two side-by-side runs share 2 cores
]
KILL_AT = 2  # rounds in the checkpoint before the kill (of 4)

FAMILIES = {
    "fedrecon": ["strategy=fedrecon", "strategy.base_rounds=1", "seed=1"],
    "fedproto": [
        "strategy=fedproto",
        "model.hidden=[64]",
        "strategy.client_models=[{hidden:[64]},{hidden:[128,64]}]",
        "seed=2",
    ],
    "adapter_bank": ["strategy=adapter_split", "strategy.backbone.epochs=2", "seed=3"],
    # LoRA bank + prototype bank in the global arrays; the trained entries derive from them
    "pilora": ["strategy=pilora", "strategy.backbone.epochs=2", "seed=7"],
    "fedadam_fedhyper_gm": [
        "strategy=fedadam",
        "lr=fedhyper_gm",
        "faults=crash",
        "faults.crash=0.2",
        "seed=3",
    ],
    "client_and_data_curriculum": [
        "selection=client_curriculum",
        "curriculum=data_curriculum",
        "federation.fraction_train=0.5",
        "scenario.rounds_per_task=3",
        "seed=4",
    ],
    # FCL baselines: Fisher + anchor tensors and exemplar index lists in the client store
    "fedewc": ["strategy=fedewc", "strategy.fisher_samples=32", "seed=5"],
    "replay_herding": [
        "strategy=replay", "strategy.selection=herding", "strategy.budget=16", "seed=6",
    ],
    # FOT: the server's bases (strategy state) grow before and after the kill
    "fot": ["strategy=fot", "scenario.num_tasks=4", "scenario.rounds_per_task=1", "seed=7"],
    # +experiment=fault_matrix: crashes, stragglers, NaN updates, sign-flipping clients and a
    # round deadline the stragglers miss (timeout and delay raised together, so a healthy
    # client on a loaded machine never comes near the deadline; stragglers still miss it)
    "fault_matrix_deadline": [
        "+experiment=fault_matrix",
        "federation.round_timeout=60",
        "faults.straggler_delay_s=90",
        "faults.adversarial_fraction=0.25",  # 1 of the 4 clients
        "seed=12",  # draws every fault kind; a straggler misses round 1; rounds 3-4 retry
    ],
}
WALL_CLOCK = {"wall_time_s", "tensorboard_dir", "resumed_from_round"}


def comparable(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if k not in WALL_CLOCK}
    out["history"] = [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in out["history"]]
    return out


def differences(a, b, path: str = "") -> list[str]:
    """Paths (and values) where two JSON values differ, for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: resumed {a!r} != uninterrupted {b!r}"]


def central_scalars(run_dir: Path) -> list:
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    if "accuracy/central_mean" not in acc.Tags()["scalars"]:  # FedProto: no global model
        return []
    return [(e.step, e.value) for e in acc.Scalars("accuracy/central_mean")]


def exercised(family: str, summary: dict) -> None:
    """The reference run really used what the family is about, before and after the kill."""
    history = summary["history"]
    if family == "fault_matrix_deadline":
        assert {"straggler", "crash", "nan", "adversarial"} <= set(summary["faults_injected"])
        early = [r for r in history if r["round"] <= KILL_AT]
        assert any(r.get("missing") for r in early), "no straggler missed the deadline early"
        assert summary["late_replies_dropped"] >= 1
    elif family == "client_and_data_curriculum":
        assert all("sweep" in r["selection_why"] for r in history)
        assert any(0 < r["curriculum"].get("curriculum-pool", 0) < 1 for r in history)
    elif family == "fot":
        assert summary["strategy"]["fot_extensions"] >= 2  # at least one after round KILL_AT
    elif family == "fedadam_fedhyper_gm":
        assert summary["faults_injected"].get("crash", 0) >= 1
        assert len({r.get("lr/server") for r in history} - {None}) > 1  # its state evolves
