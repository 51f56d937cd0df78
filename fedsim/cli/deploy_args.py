"""``fedsim deploy``'s command line: its parser, and the overrides a run composes with."""

from __future__ import annotations

import argparse
from pathlib import Path

ABOUT = "fedsim deploy: run an experiment on Flower's deployment engine."


def deploy_parser() -> argparse.ArgumentParser:
    """The parser of ``fedsim deploy local|submit|certs`` (the other modes parse their own)."""
    p = argparse.ArgumentParser(prog="fedsim deploy", description=ABOUT)
    sub = p.add_subparsers(dest="mode", required=True)
    for name in ("local", "submit"):
        s = sub.add_parser(name)
        s.add_argument("--app", type=Path, default=None, help="Flower app dir (has pyproject.toml)")
        s.add_argument("--node-timeout", default="300", help="s to wait for nodes (> 0)")
        s.add_argument("--quiet", action="store_true", help="do not echo the run's log")
        s.add_argument(
            "--config-dir",
            "-cd",
            default=None,
            help="also search DIR for config groups, as `fedsim --config-dir` (DIR/strategy/"
            "mine.yaml: strategy=mine); the ServerApp composes there, so with `submit` DIR must "
            "exist at the same path on the SuperLink's host",
        )
        s.add_argument("overrides", nargs="*", help="Hydra overrides, as for `fedsim`")
    local = sub.choices["local"]
    local.add_argument("--nodes", type=int, default=None, help="SuperNodes (default: clients)")
    local.add_argument("--insecure", action="store_true", help="no TLS, no node authentication")
    local.add_argument("--workdir", type=Path, default=None, help="certs, homes and logs")
    local.add_argument("--data-root", default=None, help="node-config data-root of every node")
    local.add_argument(
        "--node-data",
        type=Path,
        default=None,
        help="node-local data: node K gets data-path=DIR/node-K (and stream=DIR/node-K/"
        "stream.json if there is one)",
    )
    local.add_argument(
        "--fleet-host", default="127.0.0.1", help="address of the public Fleet API listener"
    )
    local.add_argument(
        "--isolation",
        choices=("process", "subprocess"),
        default="process",
        help="process: one long-lived ClientApp executor per node (default); subprocess: "
        "Flower's fresh flwr-clientapp per message",
    )
    remote = sub.choices["submit"]
    remote.add_argument("--superlink", required=True, help="HOST:PORT of the SuperLink")
    group = remote.add_mutually_exclusive_group(required=True)
    group.add_argument("--root-certificates", type=Path, help="CA certificate of the SuperLink")
    group.add_argument("--insecure", action="store_true", help="plain HTTP (only when asked)")
    remote.add_argument("--output-root", default=None, help="output.root on the SuperLink host")
    certs = sub.add_parser("certs")
    certs.add_argument("out_dir", type=Path)
    certs.add_argument("--nodes", type=int, required=True)
    certs.add_argument("--host", action="append", default=[], help="SuperLink name or IP (SAN)")
    return p


def run_overrides(args: argparse.Namespace) -> list[str]:
    """The Hydra overrides of the run: ``--config-dir``'s search path, then the user's.

    Raises
    ------
    fedsim.errors.ConfigError
        ``--config-dir`` is not a directory.
    """
    from fedsim.config.compose import search_path_override

    dirs = [args.config_dir] if args.config_dir else []
    return [*search_path_override(dirs), *args.overrides]
