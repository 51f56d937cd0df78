"""``fedsim --help``: the subcommands, the run's options and the config groups (no Hydra banner)."""

from __future__ import annotations

from pathlib import Path

#: subcommand -> one line (the order ``fedsim --help`` lists them in)
DESCRIPTIONS = {
    "run": "run an experiment (the default command: `fedsim key=value` = `fedsim run key=value`)",
    "describe": "print the scenario plan (tasks, client streams); runs nothing",
    "resume": "continue a killed or failed run from its checkpoint",
    "report": "compare finished runs: a markdown table and plots",
    "tensorboard": "serve TensorBoard over a run or a directory of runs on 127.0.0.1",
    "suite": "run a versioned benchmark suite or write its table",
    "deploy": "run on Flower's deployment engine (SuperLink + SuperNodes; local, submit, certs)",
}

RUN_OPTIONS = """\
run options (Hydra's, for `fedsim [run]`):
  key=value ...           override config keys: strategy=fedprox train.lr=0.05 seed=3
  -m, --multirun          run every combination of comma-separated values: -m seed=0,1,2
  --config-dir DIR        also search DIR for groups (DIR/strategy/mine.yaml: strategy=mine)
  --cfg job               print the composed config and exit
  --info                  Hydra's information (search path, defaults list)
  --hydra-help            Hydra's own help"""


def groups_text(config_dirs: list[Path]) -> str:
    """``group: option, option...`` per config group over ``config_dirs``."""
    options: dict[str, set[str]] = {}
    for root in config_dirs:
        for path in sorted(root.glob("*/*.yaml")):
            if path.parent.name != "suite":  # read by `fedsim suite`, not a run's group
                group = path.parent.name
                options.setdefault("+" + group if group == "experiment" else group, set()).add(
                    path.stem
                )
    width = max((len(g) for g in options), default=0)
    lines = [
        f"  {g.ljust(width)}  {', '.join(sorted(o))}"
        for g, o in sorted(options.items(), key=lambda item: item[0].lstrip("+"))
    ]
    return "config groups (group=option; `fedsim --cfg job` shows every key):\n" + "\n".join(lines)


def main_help(config_dirs: list[Path]) -> str:
    """The whole text of ``fedsim --help``."""
    width = max(len(c) for c in DESCRIPTIONS)
    commands = "\n".join(f"  {c.ljust(width)}  {d}" for c, d in DESCRIPTIONS.items())
    return (
        "usage: fedsim [run] [key=value ...] [-m] [--config-dir DIR]\n"
        "       fedsim COMMAND [--help] ...\n\n"
        "Federated continual learning on Flower + Ray: compose an experiment from configs/,\n"
        "run it, write TensorBoard logs and summary.json (Python: fedsim.run, docs/api.md).\n\n"
        f"commands:\n{commands}\n\n{RUN_OPTIONS}\n\n{groups_text(config_dirs)}\n\n"
        "exit codes: 0 completed, 1 failed, 2 bad input (nothing ran), 3 degraded\n"
        "`fedsim COMMAND --help` describes each command."
    )
