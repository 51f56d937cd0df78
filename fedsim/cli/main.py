"""The ``fedsim`` command: Hydra-composed experiments, with one-line errors and exit code 2.

Usage::

    fedsim                                   # the default experiment (= fedsim run)
    fedsim --help                            # commands, run options, config groups
    fedsim strategy=fedprox scenario.num_clients=50 seed=3
    fedsim -m strategy=fedavg,fedprox        # Hydra multirun
    fedsim describe [overrides...]           # print the scenario plan, run nothing
    fedsim report RUN_DIR [RUN_DIR ...]      # compare finished runs (table + plots)
    fedsim tensorboard RUN_DIR [--port N]    # TensorBoard on 127.0.0.1
    fedsim deploy local|submit|certs|superlink|supernode|clientapp ...  # deployment engine
    fedsim resume RUN_DIR                    # continue a killed run from its checkpoint
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from fedsim.config.compose import compose_config, config_dir, hydra_message
from fedsim.env import set_defaults

EXIT_USAGE = 2
_OUTCOMES: list[str] = []  # final states of this process's runs (a multirun has several)
# subcommand -> (module, function taking the remaining arguments)
SUBCOMMANDS = {
    "report": ("fedsim.cli.report", "report_main"),
    "tensorboard": ("fedsim.cli.tensorboard", "tensorboard_main"),
    "deploy": ("fedsim.cli.deploy", "deploy_main"),
    "resume": ("fedsim.cli.resume", "resume_main"),
    "suite": ("fedsim.cli.suite", "suite_main"),
}


def fail(message: str, code: int = EXIT_USAGE, cleanup: Callable[[], None] | None = None) -> None:
    """Print one line to stderr and exit with ``code`` (2: bad input, nothing ran).

    ``cleanup`` (optional, no arguments) runs after the line is printed, before the exit.
    """
    print(f"fedsim: error: {message}", file=sys.stderr, flush=True)
    if cleanup is not None:
        cleanup()
    sys.exit(code)


def _variants(overrides: list[str], multirun: bool) -> list[list[str]]:
    """Every combination a multirun sweep asks for (one list without ``-m``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from fedsim.errors import ConfigError

    base, sweeps = [], []
    for i, ov in enumerate(OverridesParser.create().parse_overrides(overrides)):
        if not ov.is_sweep_override():
            base.append(ov.input_line)
            continue
        key = ov.get_key_element()
        if not multirun:
            raise ConfigError(key, f"'{ov.input_line}' is a sweep; add -m to run each value")
        values = [f"{key}={v}" for v in ov.sweep_string_iterator()]
        base.append(values[0])
        sweeps += [(i, v) for v in values[1:]]
    return [base] + [base[:i] + [v] + base[i + 1 :] for i, v in sweeps]


def precheck(args: list[str], *, start_ray_early: bool = False) -> None:
    """Compose and validate every run the command line asks for; exit 2 on the first bad one.

    Hydra's own flags are parsed with Hydra's parser, so ``--cfg job`` is not taken for an
    override. Values, objects (data, plan, model, strategy...) and paths are all checked here,
    before Hydra creates a run directory. With ``--cfg``/``--info``/help nothing runs, so only
    the composition is checked.

    ``start_ray_early`` (the ``fedsim`` command): once the first run's values and paths are
    valid, Ray starts in the background (:func:`fedsim.runtime.ray_start.start_ray`) while the
    rest is checked - the dry builds import torch and build the data, Hydra sets up its job -
    and the run picks that start up. A bad setting that only the dry build finds is still
    one line (printed at once), after which Ray is shut down again before the exit.
    """
    from omegaconf import OmegaConf

    from fedsim.config.overrides import SHOW_ONLY, check_override_syntax, parse_hydra_args
    from fedsim.config.paths import check_config_dir, check_run_paths
    from fedsim.config.targets import drop_inherited_keys
    from fedsim.config.validate import validate_objects, validate_values
    from fedsim.runtime.ray_start import abandon_ray_start, start_ray

    try:
        ns = parse_hydra_args(args)
        if ns.config_path or ns.experimental_rerun:
            return  # Hydra resolves these relative to its own app; leave them to it
        overrides = list(ns.overrides)
        check_override_syntax(overrides)
        extra = []
        if ns.config_dir:
            extra = [f"hydra.searchpath=[file://{check_config_dir(ns.config_dir)}]"]
        show_only = any(getattr(ns, flag, None) for flag in SHOW_ONLY)
        hydra_ovs = [o for o in overrides if o.lstrip("+~").startswith(("hydra.", "hydra/"))]
        plain = [o for o in overrides if o not in hydra_ovs]
        # another launcher runs jobs in other processes: a Ray started here would be wasted
        early = start_ray_early and not show_only and not any("launcher" in o for o in hydra_ovs)
        for variant in _variants(plain, bool(ns.multirun)):
            cfg = compose_config(
                [*variant, *extra, *hydra_ovs],
                config_name=ns.config_name or "config",
                return_hydra_config=not show_only,
            )
            if show_only:
                continue
            full = OmegaConf.to_container(cfg, resolve=False)
            full.pop("hydra", None)
            resolved = OmegaConf.to_container(OmegaConf.create(full), resolve=True)
            checked = drop_inherited_keys(resolved, variant)
            validate_values(checked)
            check_run_paths(resolved, cfg, hydra_ovs, multirun=bool(ns.multirun))
            if early:  # the run's own start_ray (fedsim.api.runner.prepare) picks it up
                start_ray(checked)
                early = False
            validate_objects(checked)
    except (SystemExit, KeyboardInterrupt):
        abandon_ray_start()  # no-op unless Ray was started above
        raise
    except Exception as exc:  # noqa: BLE001 - turn any composition error into one line
        fail(hydra_message(exc), cleanup=abandon_ray_start)


def run_task(cfg) -> None:
    """Hydra task: prepare and run through :mod:`fedsim.api` (the one run path), print the table."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from fedsim.api.runner import prepare
    from fedsim.cli.run import run_and_record
    from fedsim.config.targets import drop_inherited_keys
    from fedsim.errors import FedsimError

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        drop_inherited_keys(resolved, list(hydra_cfg.overrides.task))
        prepare(resolved, run_dir)
    except FedsimError as exc:
        fail(str(exc))
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    state = run_and_record(
        resolved, run_dir, exit_unless_completed=not multirun, keep_warm=multirun
    )
    _OUTCOMES.append(state)  # a sweep goes on past a degraded job; main() exits at the end


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``fedsim`` console script."""
    set_defaults()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "run":
        args = args[1:]
    if args and args[0] in ("-h", "--help", "help") or (
        not (args and args[0] in SUBCOMMANDS or args[:1] == ["describe"])
        and any(a in ("-h", "--help") for a in args)
    ):
        _print_help(args)
        return
    if args and args[0] == "describe":
        from fedsim.cli.describe import describe_main

        describe_main(args[1:])
        return
    if args and args[0] in SUBCOMMANDS:
        import importlib

        module, function = SUBCOMMANDS[args[0]]
        getattr(importlib.import_module(module), function)(args[1:])
        return
    precheck(args, start_ray_early=True)
    import hydra

    from fedsim.config.schema import register

    register()
    sys.argv = [sys.argv[0], *args]
    task = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(
        run_task
    )
    _OUTCOMES.clear()
    from fedsim.runtime.ray_start import abandon_ray_start
    from fedsim.runtime.simulation import close_warm_session

    try:
        task()
    finally:
        close_warm_session()  # a multirun's jobs shared one Ray session and actor pool
        abandon_ray_start()  # precheck's early start when no run took it (Hydra failed)
    _exit_for_outcomes(list(_OUTCOMES))


def _print_help(args: list[str]) -> None:
    """``fedsim --help``: commands, run options and the config groups (with --config-dir's)."""
    from fedsim.cli.help import main_help

    dirs = [config_dir()]
    for i, arg in enumerate(args):
        extra = arg.split("=", 1)[1] if arg.startswith("--config-dir=") else None
        if arg in ("--config-dir", "-cd") and i + 1 < len(args):
            extra = args[i + 1]
        if extra and Path(extra).is_dir():
            dirs.append(Path(extra))
    print(main_help(dirs))


def _exit_for_outcomes(states: list[str]) -> None:
    """After a multirun: exit with the worst job's code (1 failed, 3 degraded)."""
    from fedsim.server.health import EXIT_CODES

    bad = [s for s in states if s != "completed"]
    if bad:
        print(f"fedsim: {len(bad)} of {len(states)} runs not completed: {', '.join(bad)}",
              file=sys.stderr)  # fmt: skip
        sys.exit(EXIT_CODES["failed"] if "failed" in bad else EXIT_CODES["degraded"])


if __name__ == "__main__":
    main()
