"""``fedsim deploy``: run an experiment on Flower's deployment engine.

Usage::

    fedsim deploy local  [--nodes N] [--insecure] [--workdir DIR] [--config-dir DIR]
                         [OVERRIDES...]
    fedsim deploy submit --superlink HOST:PORT (--root-certificates CA.crt | --insecure)
                         [--app DIR] [--output-root DIR] [--config-dir DIR] [OVERRIDES...]
    fedsim deploy certs  OUT_DIR --nodes N [--host NAME_OR_IP ...]
    fedsim deploy superlink --fleet-host HOST --fleet-port PORT [flower-superlink ARGS...]
    fedsim deploy supernode [--log-dir DIR] [flower-supernode ARGS...]
    fedsim deploy clientapp --runtime-api-address HOST:PORT [--parent-pid PID]

``local`` starts a SuperLink and one SuperNode per client on 127.0.0.1 (TLS and node
authentication unless ``--insecure``), runs the experiment and stops them again. ``submit``
sends the experiment to a running SuperLink. Both exit 0 only when the run completed (the
SuperLink's run status and the run directory's ``status.json``), 3 when it ended degraded
(``summary.json`` ``status``, see :mod:`fedsim.server.health`), 1 when it failed, 2 on bad input.
``superlink`` runs Flower's SuperLink with its Control and ServerAppIo APIs on the loopback
``--host``/``--port`` and only the Fleet API on ``--fleet-host``/``--fleet-port``
(:mod:`fedsim.deployment.split_superlink`). ``supernode`` runs ``flower-supernode --isolation
process`` with one long-lived ClientApp executor (:mod:`fedsim.deployment.supernode`,
:mod:`fedsim.deployment.warm_clientapp`); ``clientapp`` is that executor alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fedsim.cli.deploy_args import deploy_parser as _parser
from fedsim.cli.deploy_args import run_overrides
from fedsim.errors import FedsimError

EXIT_FAILED = 1
EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    print(f"fedsim deploy: error: {message}", file=sys.stderr)
    sys.exit(code)


def node_timeout_arg(text: str) -> float:
    """``--node-timeout`` as seconds; exit 2 (one line) unless it is a finite number > 0."""
    import math

    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        _fail(f"--node-timeout: must be a number of seconds > 0, got {text!r}")
    return seconds


def node_data_items(root: Path, nodes: int) -> list[dict[str, str]]:
    """``--node-data DIR``: node K's ``data-path`` (and ``stream``); exit 2 if one is missing."""
    items = []
    for k in range(nodes):
        own = (root / f"node-{k}").resolve()
        found = [p for p in (own, own.with_suffix(".npz")) if p.exists()]
        if not found:
            _fail(f"--node-data: no {own} (a directory of .npy files) nor {own}.npz")
        item = {"data-path": str(found[0])}
        if (own / "stream.json").is_file():
            item["stream"] = str(own / "stream.json")
        items.append(item)
    return items


def default_app_dir() -> Path:
    """The checkout holding fedsim (its pyproject.toml declares the Flower app)."""
    root = Path(__file__).resolve().parents[2]
    project = root / "pyproject.toml"
    if not project.is_file() or "[tool.flwr.app" not in project.read_text(errors="replace"):
        raise FedsimError(f"no Flower app (pyproject.toml) at {root}; pass --app DIR")
    return root


def precheck(overrides: list[str]) -> dict[str, Any]:
    """Compose and validate the experiment here, before anything starts; exit 2 if bad."""
    from omegaconf import OmegaConf

    from fedsim.config.compose import compose_config, hydra_message
    from fedsim.config.targets import drop_inherited_keys
    from fedsim.config.validate import validate

    try:
        cfg = OmegaConf.to_container(compose_config(overrides), resolve=True)
        cfg = drop_inherited_keys(cfg, overrides)
    except Exception as exc:  # noqa: BLE001 - Hydra raises several types
        _fail(hydra_message(exc))
    try:
        validate(cfg, engine="deployment")
    except FedsimError as exc:
        _fail(str(exc))
    return cfg


def health_exit_code(summary: dict) -> int:
    """Exit code of a run Flower finished: 0 completed, 3 degraded, 1 failed (run_health)."""
    from fedsim.server.health import EXIT_CODES

    state = str(summary.get("status") or "completed")
    code = EXIT_CODES.get(state, EXIT_FAILED)
    if code:
        why = summary.get("status_reason") or "see summary.json"
        print(f"fedsim deploy: run {state}: {why}", file=sys.stderr)
    return code


def report(outcome) -> int:
    """Print how the run ended; return the exit code."""
    from fedsim.cli.console import print_summary

    if outcome.ok:
        summary_file = outcome.run_dir / "summary.json" if outcome.run_dir else None
        summary = {}
        if summary_file is not None and summary_file.is_file():
            summary = json.loads(summary_file.read_text())
            print_summary(summary, outcome.run_dir)
        print(f"fedsim deploy: flwr run {outcome.run_id} {outcome.status}")
        return health_exit_code(summary)
    reason = outcome.run_dir_error() or outcome.details or "see the log above"
    tail = "\n".join(outcome.log_tail[-15:])
    print(
        f"{tail}\nfedsim deploy: error: flwr run {outcome.run_id} {outcome.status}"
        f" (run directory: {outcome.run_dir_state() or 'n/a'}): {reason}",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _run(cli, app_dir: Path, run_config: dict[str, Any], quiet: bool) -> int:
    run_id = cli.submit(app_dir, run_config)
    print(f"fedsim deploy: submitted flwr run {run_id}", flush=True)
    try:
        outcome = cli.follow(run_id, echo=not quiet)
    except KeyboardInterrupt:
        cli.stop_run(run_id)
        raise
    return report(outcome)


def _terminate_on_sigterm() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def deploy_local(args: argparse.Namespace) -> int:
    """Start a local federation, run the experiment on it, stop it."""
    from fedsim.deployment.federation import CONNECTION, LaunchDir, LocalFederation
    from fedsim.deployment.submit import FlwrCli, settle_run_dir

    timeout = node_timeout_arg(args.node_timeout)
    overrides = run_overrides(args)
    cfg = precheck(overrides)
    from fedsim.experiment import get_experiment

    num_clients = get_experiment(cfg).plan.num_clients
    nodes = num_clients if args.nodes is None else args.nodes
    if nodes < 1:
        _fail(f"--nodes must be >= 1, got {nodes}")
    root = Path(str(cfg["output"]["root"])).expanduser().resolve()
    run_dir = root / str(cfg["output"]["name"]) / time.strftime("%Y-%m-%d_%H-%M-%S-deploy")
    extra = {"data-root": args.data_root} if args.data_root else None
    per_node = node_data_items(args.node_data, nodes) if args.node_data else None
    app_dir = args.app or default_app_dir()
    run_config = {
        "overrides": " ".join(_quote(o) for o in overrides),
        "output-root": str(root),
        "run-dir": str(run_dir),
        "node-timeout": timeout,
    }
    _terminate_on_sigterm()
    launch = LaunchDir(args.workdir)
    workdir = launch.path
    print(
        f"fedsim deploy: SuperLink + {nodes} SuperNodes "
        f"({'insecure' if args.insecure else 'TLS + node auth'}), logs in {workdir}/logs"
        f"{' (removed if the run fails)' if launch.temporary else ''}",
        flush=True,
    )
    with launch:  # a temporary workdir (private keys) is removed if the run fails
        try:
            with LocalFederation(
                workdir,
                nodes,
                insecure=args.insecure,
                node_config=extra,
                isolation=args.isolation,
                per_node=per_node,
                fleet_host=args.fleet_host,
            ) as fed:
                code = _run_local(fed, FlwrCli(fed.cli_home, CONNECTION), app_dir, run_config,
                                  args.quiet)  # fmt: skip
        except BaseException as exc:  # the federation is stopped: nothing writes the run dir
            settle_run_dir(run_dir, str(exc) or "interrupted")
            raise
        if code != 0:
            settle_run_dir(run_dir, "the run did not complete")
            launch.failed()
    return code


def _run_local(fed, cli, app_dir: Path, run_config: dict[str, Any], quiet: bool) -> int:
    """:func:`_run` on a local federation; a dead SuperLink is named as the reason."""
    from fedsim.deployment.federation import DeploymentError

    try:
        return _run(cli, app_dir, run_config, quiet)
    except DeploymentError as exc:
        died = fed.superlink_died()
        if died is None:
            raise
        raise DeploymentError(f"{died}: {exc}") from None


def deploy_submit(args: argparse.Namespace) -> int:
    """Submit the experiment to a running SuperLink."""
    from fedsim.deployment.federation import CONNECTION, write_cli_config
    from fedsim.deployment.submit import FlwrCli

    timeout = node_timeout_arg(args.node_timeout)
    overrides = run_overrides(args)
    precheck(overrides)
    ca = None if args.insecure else args.root_certificates.resolve()
    if ca is not None and not ca.is_file():
        _fail(f"--root-certificates: no file {ca}")
    home = Path(tempfile.mkdtemp(prefix="fedsim-flwr-cli-"))  # removed below, whatever happens
    write_cli_config(home, args.superlink, ca)
    run_config: dict[str, Any] = {
        "overrides": " ".join(_quote(o) for o in overrides),
        "node-timeout": timeout,
    }
    if args.output_root:
        run_config["output-root"] = args.output_root
    _terminate_on_sigterm()
    try:
        return _run(
            FlwrCli(home, CONNECTION), args.app or default_app_dir(), run_config, args.quiet
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _quote(override: str) -> str:
    import shlex

    return shlex.quote(override)


def _supernode(argv: list[str]) -> None:
    from fedsim.deployment.supernode import run_supernode

    logs = Path("logs")
    if argv[:1] == ["--log-dir"] and len(argv) > 1:
        logs, argv = Path(argv[1]), argv[2:]
    try:
        code = run_supernode(argv, logs.resolve())
    except ValueError as exc:
        _fail(f"supernode: {exc}")
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def deploy_main(argv: list[str]) -> None:
    """Entry point of ``fedsim deploy``."""
    if argv[:1] == ["supernode"]:  # flower-supernode's arguments, plus the warm executor
        _supernode(argv[1:])
        return
    if argv[:1] == ["clientapp"]:
        from fedsim.deployment.warm_clientapp import main as clientapp_main

        clientapp_main(argv[1:])
        return
    if argv[:1] == ["superlink"]:  # everything else goes to flower-superlink's own parser
        from fedsim.deployment.split_superlink import serve

        try:
            serve(argv[1:])
        except ValueError as exc:
            print(f"fedsim deploy superlink: error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        return
    args = _parser().parse_args(argv)
    try:
        if args.mode == "certs":
            from fedsim.deployment.certs import make_certs

            paths = make_certs(args.out_dir, num_nodes=args.nodes, hosts=args.host)
            print(f"CA {paths.ca_cert}\nSuperLink {paths.server_cert} {paths.server_key}")
            for k, key in enumerate(paths.node_keys):
                print(f"node {k}: {key} (register {paths.node_public(k)})")
            return
        code = deploy_local(args) if args.mode == "local" else deploy_submit(args)
    except ValueError as exc:  # bad input (also ConfigError)
        _fail(str(exc), EXIT_USAGE)
    except FedsimError as exc:  # the deployment itself failed
        _fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        print("fedsim deploy: interrupted; everything started here was stopped", file=sys.stderr)
        sys.exit(130)
    sys.exit(code)
