"""``fedsim describe [overrides...]``: print the scenario plan without running anything."""

from __future__ import annotations

import sys

USAGE = "usage: fedsim describe [--config-dir DIR] [key=value ...]"
HELP = f"""{USAGE}

Print the scenario plan the overrides give - tasks, each client's task order, arrival, active
rounds, samples and label histogram (first 50 clients) - and run nothing.

options:
  --config-dir DIR   also search DIR for config groups (as for a run)
  key=value          the same overrides as `fedsim run`"""


def split_config_dirs(args: list[str]) -> tuple[list[str], list[str]]:
    """``(config dirs, other args)`` from ``--config-dir DIR`` / ``--config-dir=DIR``."""
    dirs, rest, i = [], [], 0
    while i < len(args):
        if args[i] in ("--config-dir", "-cd") and i + 1 < len(args):
            dirs.append(args[i + 1])
            i += 2
            continue
        if args[i].startswith("--config-dir="):
            dirs.append(args[i].split("=", 1)[1])
        else:
            rest.append(args[i])
        i += 1
    return dirs, rest


def describe_main(args: list[str]) -> None:
    """Compose the config, build the plan and print per-client streams."""
    if any(a in ("-h", "--help") for a in args):
        print(HELP)
        return
    from rich.table import Table

    from fedsim.api.runner import compose
    from fedsim.cli.console import make_console
    from fedsim.cli.main import fail
    from fedsim.errors import FedsimError
    from fedsim.experiment import get_experiment
    from scenarios.summary import plan_flags, plan_table

    max_rows = 50
    dirs, overrides = split_config_dirs(args)
    try:
        exp = get_experiment(compose(overrides, config_dir=dirs))
    except FedsimError as exc:
        fail(str(exc))
    plan = exp.plan
    console = make_console()
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
