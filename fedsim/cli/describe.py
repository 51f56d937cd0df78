"""``fedsim describe [overrides...]``: print the scenario plan without running anything."""

from __future__ import annotations

import sys

USAGE = "usage: fedsim describe [key=value ...]   (print the scenario plan; runs nothing)"


def describe_main(args: list[str]) -> None:
    """Compose the config, build the plan and print per-client streams."""
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return
    from omegaconf import OmegaConf
    from rich.console import Console
    from rich.table import Table

    from fedsim.cli.main import fail
    from fedsim.config.compose import compose_config
    from fedsim.errors import FedsimError
    from fedsim.experiment import get_experiment
    from scenarios.summary import plan_flags, plan_table

    max_rows = 50
    try:
        from fedsim.config.overrides import check_override_syntax

        check_override_syntax(args)
        cfg = OmegaConf.to_container(compose_config(args), resolve=True)
        exp = get_experiment(cfg)
    except FedsimError as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - Hydra composition errors
        from fedsim.config.compose import hydra_message

        fail(hydra_message(exc))
    plan = exp.plan
    console = Console()
    console.print(
        f"[bold]{plan.kind}[/bold]: {plan.num_clients} clients, {len(plan.tasks)} tasks, "
        f"{plan.num_rounds} rounds, data '{exp.data.name}' "
        f"({len(exp.data.y_train)} train / {len(exp.data.y_test)} test)"
    )
    console.print(plan_flags(plan))
    tasks = Table(title="tasks")
    for col in ("task", "classes", "domain", "test examples"):
        tasks.add_column(col)
    for t in plan.tasks:
        tasks.add_row(str(t.task_id), str(list(t.classes)), t.domain, str(len(t.test_idx)))
    console.print(tasks)
    clients = Table(title=f"client streams (first {min(max_rows, plan.num_clients)})")
    for col in ("client", "task order", "arrival", "rounds", "samples/task", "label histogram"):
        clients.add_column(col)
    for row in plan_table(plan, exp.data.y_train, max_clients=max_rows):
        clients.add_row(
            str(row["client"]),
            str(row["order"]),
            str(row["arrival"]),
            " ".join(f"{a}-{b}" for a, b in row["rounds"]),
            str(row["samples"]),
            str(row["labels"]),
        )
    console.print(clients)
    sys.stdout.flush()
