"""deploy/docker-compose.yml (not run here: no docker) agrees with the CLIs, itself and the docs.

Every command a service runs, and the ``fedsim deploy submit`` line its header tells users to
run, is parsed by the real argument parsers (``fedsim deploy``'s, and Flower 1.42's
``flower-superlink`` / ``flower-supernode`` parsers, whose ``--help`` is the same object); the
ports, the SuperLink's name and the certificate files agree between services; every host file
a service mounts exists or is one that docs/deployment.md tells users to create.
"""

from __future__ import annotations

import argparse
import re
import shlex

import pytest
import yaml

from fedsim.cli.deploy import precheck
from fedsim.cli.deploy_args import deploy_parser
from fedsim.deployment.certs import make_certs
from fedsim.deployment.fast_supernode import split_polls
from fedsim.deployment.split_superlink import split_argv
from fedsim.deployment.supernode import supernode_argv
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCS = REPO / "docs" / "deployment.md"


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def header_command(name: str) -> list[str]:
    """The ``fedsim <name> ...`` command in the compose file's header comment (continued by \\)."""
    text = "\n".join(ln[1:].strip() for ln in COMPOSE.read_text().splitlines() if ln[:1] == "#")
    text = text.replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if f"fedsim {name}" in ln]
    return shlex.split(line[line.index(f"fedsim {name}") + len("fedsim ") :])


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse like the command would; an unknown or malformed flag fails with its help text."""
    try:
        return parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"{parser.prog} refuses {argv}; its --help:\n{parser.format_help()}")


def flower_superlink_parser() -> argparse.ArgumentParser:
    from flwr.superlink.cli.flower_superlink import _parse_args_run_superlink

    return _parse_args_run_superlink()


def flower_supernode_parser() -> argparse.ArgumentParser:
    from flwr.supernode.cli.flower_supernode import _parse_args_run_supernode

    return _parse_args_run_supernode()


def superlink_args() -> tuple[str, int, argparse.Namespace]:
    command = services()["superlink"]["command"]
    assert command[:2] == ["deploy", "superlink"]
    fleet_host, fleet_port, flower_args = split_argv(command[2:])
    return fleet_host, fleet_port, parse(flower_superlink_parser(), flower_args)


def node_args(name: str) -> argparse.Namespace:
    command = services()[name]["command"]
    assert command[:2] == ["deploy", "supernode"]
    argv = supernode_argv(command[2:], 9094)  # what `fedsim deploy supernode` runs
    _, _, flower_args = split_polls(argv[3:])
    return parse(flower_supernode_parser(), flower_args)


def nodes() -> list[str]:
    return sorted(name for name in services() if name.startswith("node-"))


def test_every_command_parses_with_the_current_clis():
    certs = services()["certs"]["command"]
    assert certs[:2] == ["deploy", "certs"]
    ns = parse(deploy_parser(), certs[1:])
    assert ns.nodes == len(nodes()) == 2
    superlink_args()
    for name in nodes():
        node_args(name)
    submit = header_command("deploy submit")
    parse(deploy_parser(), submit[1:])


def test_ports_names_and_certificate_files_agree(tmp_path):
    fleet_host, fleet_port, link = superlink_args()
    assert fleet_host == "0.0.0.0"  # inside the container; only the Fleet port is published
    assert services()["superlink"]["ports"] == [f"{fleet_port}:{fleet_port}"]
    certs = parse(deploy_parser(), services()["certs"]["command"][1:])
    control = f"{link.host}:{link.port}"
    assert link.host == "127.0.0.1"  # the Control API stays on the container's loopback
    made = make_certs(tmp_path / "certs", num_nodes=certs.nodes, hosts=certs.host)
    files = {f"/certs/{p.relative_to(tmp_path / 'certs')}" for p in (tmp_path / "certs").iterdir()}
    assert {link.ssl_ca_certfile, link.ssl_certfile, link.ssl_keyfile} <= files
    assert link.enable_supernode_auth
    for k, name in enumerate(nodes()):
        ns = node_args(name)
        assert ns.superlink == f"superlink:{fleet_port}" and "superlink" in certs.host
        assert {ns.root_certificates, ns.auth_supernode_private_key} <= files
        assert ns.auth_supernode_private_key == f"/certs/{made.node_keys[k].name}"
        assert f"partition-id={k} num-partitions={len(nodes())}" in ns.node_config
    register = (DEPLOY / "register.sh").read_text()
    assert f'address = "{control}"' in register and "/certs/node-*.pub" in register
    submit = parse(deploy_parser(), header_command("deploy submit")[1:])
    assert submit.superlink == control and str(submit.root_certificates) in files


def test_the_submitted_experiment_composes_and_validates():
    submit = parse(deploy_parser(), header_command("deploy submit")[1:])
    cfg = precheck(submit.overrides)  # exits 2 (SystemExit) if it does not
    assert cfg["data"]["name"] == "node_local" and cfg["scenario"]["name"] == "node_local"
    assert cfg["scenario"]["num_clients"] == len(nodes())


def test_mounted_host_files_exist_or_are_the_ones_the_docs_ask_for():
    docs = DOCS.read_text()
    asked = []
    for name, service in services().items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if not host.startswith("."):
                continue  # a named volume
            path = (DEPLOY / host).resolve()
            if path.exists():
                continue
            asked.append(path)
            rel = path.relative_to(REPO).as_posix()
            generic = re.sub(r"node-\d+", "node-K", rel)
            assert generic in docs, f"{name} mounts {rel}, which docs/deployment.md never names"
            # what the node's --node-config reads from that mount, the docs name too
            ns = node_args(name)
            for item in re.findall(r'(?:data-path|stream)="([^"]+)"', ns.node_config):
                inside = item.removeprefix("/data").lstrip("/")
                if inside:
                    assert f"{generic}/{inside}" in docs, f"docs never ask for {generic}/{inside}"
            for array in ("x.npy", "y.npy"):
                assert f"{generic}/{array}" in docs
    assert len(asked) == len(nodes())  # the nodes' own data; everything else is in the tree
