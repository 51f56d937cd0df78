"""Human-readable summaries of a plan (what the federation will live through)."""

from __future__ import annotations

import numpy as np

from scenarios.types import ScenarioPlan


def plan_table(
    plan: ScenarioPlan, labels: np.ndarray | None = None, max_clients: int = 50
) -> list[dict]:
    """One row per client: task order, arrival round, samples per task, label histogram."""
    rows = []
    for stream in plan.streams[:max_clients]:
        row = {
            "client": stream.client_id,
            "order": [s.task_id for s in stream.slots],
            "arrival": stream.slots[0].start_round if stream.slots else None,
            "rounds": [(s.start_round, s.end_round) for s in stream.slots],
            "samples": [int(len(s.train_idx)) for s in stream.slots],
        }
        if labels is not None:
            # distinct examples the client holds (a recurring task's slot reuses its examples)
            idx = np.unique(np.concatenate([s.train_idx for s in stream.slots]))
            row["labels"] = np.bincount(labels[idx], minlength=plan.num_classes).tolist()
        rows.append(row)
    return rows


def plan_flags(plan: ScenarioPlan) -> str:
    """One line: whether task ids are given at test time / to the learner."""
    agnostic = bool(plan.info.get("task_agnostic", False))
    return (
        f"task id at test time: {'yes (multi-head)' if plan.task_incremental else 'no'}; "
        f"task-agnostic learners: {'yes' if agnostic else 'no'}"
    )


def plan_markdown(
    plan: ScenarioPlan, max_clients: int = 50, labels: np.ndarray | None = None
) -> str:
    """A markdown summary of a plan (tasks, then per-client streams).

    With the train ``labels``, each client row also shows its label histogram.
    """
    lines = [
        f"**{plan.kind}**: {plan.num_clients} clients, {len(plan.tasks)} tasks, "
        f"{plan.num_rounds} rounds; parameters `{plan.info}`",
        "",
        plan_flags(plan),
        "",
        "| task | classes | domain | test examples |",
        "|---|---|---|---|",
    ]
    for t in plan.tasks:
        lines.append(f"| {t.task_id} | {list(t.classes)} | {t.domain} | {len(t.test_idx)} |")
    lines += ["", "| client | task order | arrival | rounds | samples per task | labels |",
              "|---|---|---|---|---|---|"]
    for row in plan_table(plan, labels, max_clients=max_clients):
        rounds = " ".join(f"{a}-{b}" for a, b in row["rounds"])
        lines.append(
            f"| {row['client']} | {row['order']} | {row['arrival']} | {rounds} "
            f"| {row['samples']} | {row.get('labels', '')} |"
        )
    if plan.num_clients > max_clients:
        lines.append(f"| ... | {plan.num_clients - max_clients} more clients | | | | |")
    return "\n".join(lines)
