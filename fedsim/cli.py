"""The ``fedsim`` command: Hydra-composed experiments, with one-line errors and exit code 2.

Usage::

    fedsim                                   # the default experiment
    fedsim strategy=fedprox scenario.num_clients=50 seed=3
    fedsim -m strategy=fedavg,fedprox        # Hydra multirun
    fedsim describe [overrides...]           # print the scenario plan, run nothing
    fedsim report RUN_DIR [RUN_DIR ...]      # compare finished runs (table + plots)
    fedsim tensorboard RUN_DIR [--port N]    # TensorBoard on 127.0.0.1
    fedsim deploy local|submit|certs ...     # Flower deployment engine (docs/deployment.md)
    fedsim resume RUN_DIR                    # continue a killed run from its checkpoint
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fedsim.env import set_defaults

EXIT_USAGE = 2
# subcommand -> (module, function taking the remaining arguments)
SUBCOMMANDS = {
    "report": ("fedsim.analysis.report", "report_main"),
    "tensorboard": ("fedsim.analysis.serve", "tensorboard_main"),
    "deploy": ("fedsim.deployment.cli", "deploy_main"),
    "resume": ("fedsim.resume", "resume_main"),
}


def config_dir() -> Path:
    """The ``configs/`` directory (repository checkout first, then the installed copy)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "configs", here / "_configs"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError("fedsim configs/ directory not found")


def fail(message: str) -> None:
    """Print one line to stderr and exit with code 2."""
    print(f"fedsim: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _plain_overrides(args: list[str]) -> list[str]:
    return [a for a in args if not a.startswith("-") and not a.startswith(("hydra.", "hydra/"))]


def compose_config(overrides: list[str]):
    """Compose the config with Hydra's compose API (no run directory, no logging changes)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from fedsim.config.schema import register

    register()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def _hydra_message(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    head = lines[0] if lines else type(exc).__name__
    options = [ln for ln in lines[1:] if not ln.lower().startswith("available")]
    if "Could not find" in head and options:
        return f"{head.split(':', 1)[-1].strip()} (allowed: {', '.join(options)})"
    return head


def precheck(args: list[str]) -> None:
    """Compose every combination the command line asks for; exit 2 on the first bad one."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from fedsim.config.validate import check_writable, validate_values

    plain = _plain_overrides(args)
    try:
        parsed = OverridesParser.create().parse_overrides(plain)
    except Exception as exc:  # noqa: BLE001 - Hydra's parser raises several types
        fail(_hydra_message(exc))
    base, sweeps = [], []
    for i, ov in enumerate(parsed):
        if ov.is_sweep_override():
            key = ov.get_key_element()
            values = [f"{key}={v}" for v in ov.sweep_string_iterator()]
            base.append(values[0])
            sweeps += [(i, v) for v in values[1:]]
        else:
            base.append(ov.input_line)
    variants = [base] + [base[:i] + [v] + base[i + 1 :] for i, v in sweeps]
    for overrides in variants:
        try:
            cfg = compose_config(overrides)
            resolved = OmegaConf.to_container(cfg, resolve=True)
            validate_values(resolved)
            check_writable(resolved["output"]["root"])
        except SystemExit:
            raise
        except Exception as exc:  # noqa: BLE001 - turn any composition error into one line
            fail(_hydra_message(exc))


def run_task(cfg) -> None:
    """Hydra task: validate, run the simulation, print the final table."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from fedsim.config.validate import validate_objects, validate_values
    from fedsim.errors import FedsimError
    from fedsim.run_dir import discard_if_unstarted, mark, run_and_record, write_config
    from fedsim.runtime.ray_start import abandon_ray_start, start_ray

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if (run_dir / "status.json").exists():
        fail(f"output.name: run directory '{run_dir}' already holds a run; not overwriting it")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        validate_values(resolved)
        start_ray(resolved)  # Ray starts while the data, plan and model are dry-built
        validate_objects(resolved)
    except FedsimError as exc:
        abandon_ray_start()
        discard_if_unstarted(run_dir)
        fail(str(exc))
    write_config(run_dir, resolved)
    mark(run_dir, "running", pid=os.getpid())
    run_and_record(resolved, run_dir)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``fedsim`` console script."""
    set_defaults()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "describe":
        from fedsim.describe import describe_main

        describe_main(args[1:])
        return
    if args and args[0] in SUBCOMMANDS:
        import importlib

        module, function = SUBCOMMANDS[args[0]]
        getattr(importlib.import_module(module), function)(args[1:])
        return
    if not any(a in ("--help", "-h", "--hydra-help", "--info") for a in args):
        precheck(args)
    import hydra

    from fedsim.config.schema import register

    register()
    sys.argv = [sys.argv[0], *args]
    task = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(
        run_task
    )
    task()


if __name__ == "__main__":
    main()
