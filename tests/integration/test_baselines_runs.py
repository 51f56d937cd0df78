"""One short real Flower simulation (Ray) per FCL baseline: the mechanism acts after task 1.

Each run: 4 clients, 2 tasks of 2 digits, 2 rounds per task, every client in every round, so
every client meets a task end in round 3. The per-round ``baselines`` values of
``summary.json`` (mean / max over the round's clients) must show the mechanism at work from
then on, and nothing before; TensorBoard must have the ``fcl/...`` curves.
"""

import json
from pathlib import Path

import pytest

from fedsim import wire
from fedsim.logging.tags import tag
from tests.integration.test_simulation import load_events, run_cli

pytestmark = pytest.mark.integration

RUN = [
    "scenario.num_clients=4",
    "scenario.num_tasks=2",
    "scenario.rounds_per_task=2",
    "scenario.max_arrival_delay=0",
    "train.epochs=1",
    "log.progress=false",
]


def finished(tmp_path: Path, *args: str) -> tuple[dict, Path]:
    res = run_cli(*RUN, f"output.root={tmp_path}", *args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (path,) = tmp_path.rglob("summary.json")
    return json.loads(path.read_text()), path.parent


def per_round(summary: dict, key: str) -> list[float | None]:
    return [h.get("baselines", {}).get(key) for h in summary["history"]]


def test_fedlwf_distils_after_the_first_task(tmp_path):
    summary, run_dir = finished(tmp_path, "strategy=fedlwf")
    kd = per_round(summary, f"{wire.LWF_KD}/mean")
    assert kd[:2] == [0.0, 0.0] and all(v > 0 for v in kd[2:]), kd
    old = per_round(summary, f"{wire.MEMORY_OLD_MODEL}/max")
    assert old[0] == 0.0 and old[-1] > 0
    assert summary["client_memory_bytes"][wire.MEMORY_OLD_MODEL] == old[-1]
    tags = set(load_events(run_dir / "tb").Tags()["scalars"])
    assert tag("baseline", f"{wire.LWF_KD}/mean") in tags
    assert tag("baseline", f"{wire.MEMORY_OLD_MODEL}/max") in tags


def test_fedewc_penalty_is_positive_after_the_first_task(tmp_path):
    summary, _ = finished(tmp_path, "strategy=fedewc", "strategy.fisher_samples=32")
    penalty = per_round(summary, f"{wire.EWC_PENALTY}/mean")
    assert penalty[:2] == [0.0, 0.0] and all(v > 0 for v in penalty[2:]), penalty
    assert summary["client_memory_bytes"][wire.MEMORY_FISHER] > 0


@pytest.mark.parametrize("selection", ["reservoir", "herding"])
def test_replay_buffer_holds_earlier_task_classes(tmp_path, selection):
    budget = 20
    summary, _ = finished(
        tmp_path, "strategy=replay", f"strategy.selection={selection}",
        f"strategy.budget={budget}",
    )
    classes = per_round(summary, f"{wire.REPLAY_CLASSES}/mean")
    size = per_round(summary, f"{wire.REPLAY_SIZE}/max")
    assert size[:2] == [0.0, 0.0] and all(0 < s <= budget for s in size[2:]), size
    # 2 digits per task: after task 1 every client replays both digits of its first task
    assert all(c == 2 for c in classes[2:]), classes
    loss = per_round(summary, f"{wire.REPLAY_LOSS}/mean")
    assert all(v > 0 for v in loss[2:])
    per_example = 8 * 8 * 4 + 8  # 8x8 float32 digit + int64 label
    assert summary["client_memory_bytes"][wire.MEMORY_BUFFER] <= budget * per_example


@pytest.mark.parametrize(
    "combo",
    [
        ["strategy=replay", "strategy.selection=herding", "lr=fedhyper_cl",
         "selection=client_curriculum", "curriculum=tasks_runtime"],
        ["strategy=fedewc", "lr=fedhyper_gm", "faults=crash", "scenario=heterogeneous",
         "scenario.num_clients=5", "scenario.tasks_per_client=2"],
    ],
    ids=["replay-fedhyper_cl-client_curriculum-tasks_runtime", "fedewc-fedhyper_gm-crash-het"],
)
def test_baselines_compose_with_lr_selection_curriculum_and_faults(tmp_path, combo):
    """Combinations the compatibility table says ``yes`` to run from config alone."""
    summary, _ = finished(tmp_path, *combo)
    assert summary["status"] == "completed"
    assert any(h.get("baselines") for h in summary["history"])


def test_fot_extends_its_basis_at_the_task_end_and_composes(tmp_path):
    """FOT on Ray with conv layers and a server LR: the clients send their representation
    once, in the first round of task 2, and the server keeps a basis for every layer."""
    summary, run_dir = finished(tmp_path, "strategy=fot", "model=cnn", "lr=fedhyper_g")
    sent = per_round(summary, f"{wire.FOT_BYTES_UP}/mean")
    tasks = per_round(summary, f"{wire.FOT_TASKS}/mean")
    assert sent[:2] == [0.0, 0.0] and sent[2] > 0 and sent[3] == 0.0, sent
    assert tasks[2] == 1.0  # every client (all in every round) reported its ended task
    kept = summary["strategy"]
    assert kept["fot_extensions"] == 1
    assert set(kept["fot_basis_width"]) == {"features.0", "features.3", "features.7", "head"}
    assert all(0 < w <= kept["fot_basis_dim"][k] for k, w in kept["fot_basis_width"].items())
    tags = set(load_events(run_dir / "tb").Tags()["scalars"])
    assert tag("fot_basis_bytes") in tags and tag("fot_basis_share", "features.0") in tags


def test_target_distils_on_server_synthetic_data_after_the_first_task(tmp_path):
    """TARGET on the CNN: the server inverts the round-2 model, clients distil from round 3."""
    summary, run_dir = finished(
        tmp_path, "strategy=target", "model=cnn", "strategy.syn_rounds=2", "strategy.g_steps=3"
    )
    kd = per_round(summary, f"{wire.TARGET_KD_LOSS}/mean")
    assert kd[:2] == [0.0, 0.0] and all(v > 0 for v in kd[2:]), kd
    held = per_round(summary, f"{wire.MEMORY_SYNTHETIC}/max")
    assert held[:2] == [0.0, 0.0] and held[2] == 2 * 64 * (8 * 8 * 4), held
    down = [h["bytes_down"] for h in summary["history"]]
    assert down[2] > down[1], down  # old model + synthetic set on top of the global model
    assert summary["client_memory_bytes"][wire.MEMORY_SYNTHETIC] == held[-1]
    tags = set(load_events(run_dir / "tb").Tags()["scalars"])
    assert tag("baseline", f"{wire.TARGET_KD_LOSS}/mean") in tags
