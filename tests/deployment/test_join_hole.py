"""Only the Fleet API is public: a CA-certificate holder can neither register a key nor submit."""

import asyncio
import json
import stat

import pytest

from fedsim.deployment.certs import make_node_key
from fedsim.deployment.federation import CONNECTION, LaunchDir, LocalFederation, write_cli_config
from fedsim.deployment.processes import executable, flower_env, port_open
from fedsim.deployment.split_superlink import FleetOnly, split_argv
from tests.cli.invoke import run_fedsim
from tests.deployment.test_deployment import TINY, deploy

PUBLIC_HOST = "127.0.0.2"  # stands for the SuperLink's public address (loopback only)


def _call(path: str) -> tuple[list[str], list[dict]]:
    seen: list[str] = []
    sent: list[dict] = []

    async def app(scope, receive, send):
        seen.append(scope["path"])

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(FleetOnly(app)({"type": "http", "path": path}, receive, send))
    return seen, sent


@pytest.mark.parametrize("path", ["/v1/fleet/activate-node", "/health"])
def test_fleet_only_forwards_fleet_api(path):
    seen, sent = _call(path)
    assert seen == [path] and sent == []


@pytest.mark.parametrize(
    "path", ["/v1/control/start-run", "/v1/control/register-node", "/v1/runtime/x", "/docs", "/"]
)
def test_fleet_only_refuses_everything_else(path):
    seen, sent = _call(path)
    assert seen == [], "a non-Fleet request reached the SuperLink app"
    assert sent[0]["status"] == 404


def test_split_argv_needs_fleet_address_and_loopback_control():
    host, port, rest = split_argv(["--fleet-host", "10.0.0.5", "--fleet-port=9092", "--port", "1"])
    assert (host, port, rest) == ("10.0.0.5", 9092, ["--port", "1"])
    with pytest.raises(ValueError, match="fleet"):
        split_argv(["--host", "127.0.0.1"])
    with pytest.raises(ValueError, match="not loopback"):
        split_argv(["--fleet-host", "h", "--fleet-port", "1", "--host", "0.0.0.0"])


def test_launch_dir_temporary_removed_on_failure_given_dir_kept(tmp_path):
    with pytest.raises(RuntimeError), LaunchDir() as launch:
        (launch.path / "certs").mkdir()
        (launch.path / "certs" / "node-0").write_text("private")
        assert stat.S_IMODE(launch.path.stat().st_mode) == 0o700
        raise RuntimeError("SuperLink did not start")
    assert not launch.path.exists()
    with LaunchDir() as launch:
        pass
    assert launch.path.is_dir()  # success: kept (logs)
    launch.failed()  # a run that ended failed
    assert not launch.path.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(RuntimeError), LaunchDir(mine):
        raise RuntimeError("boom")
    assert mine.is_dir(), "a directory the user gave must never be removed"


def _outsider(fed: LocalFederation, home, address: str, *args: str):
    """The ``flwr`` CLI of someone holding only the public CA certificate."""
    import subprocess

    write_cli_config(home, address, fed.certs.ca_cert)
    return subprocess.run(
        [executable("flwr"), *args],
        capture_output=True,
        text=True,
        env=flower_env(home),
        cwd=str(home),
        timeout=60,
    )


@pytest.mark.integration
def test_ca_holder_cannot_register_key_or_reach_control_api(tmp_path):
    with LocalFederation(tmp_path / "w", 0, fleet_host=PUBLIC_HOST, database="state.db") as fed:
        # the Control API (and ServerAppIo) is not listening on the public address at all
        assert not port_open(fed.port, PUBLIC_HOST), "Control API port open on public address"
        assert port_open(fed.fleet_port, PUBLIC_HOST)
        rogue = make_node_key(tmp_path / "outsider" / "rogue")
        res = _outsider(
            fed,
            tmp_path / "o1",
            f"{PUBLIC_HOST}:{fed.port}",
            "supernode",
            "register",
            str(rogue.with_suffix(".pub")),
            CONNECTION,
        )
        assert res.returncode != 0, res.stdout + res.stderr
        # the public Fleet listener refuses Control API calls: register a key, list runs ...
        register = ("supernode", "register", str(rogue.with_suffix(".pub")), CONNECTION)
        res = _outsider(fed, tmp_path / "o2", fed.fleet_address, *register)
        assert res.returncode != 0, res.stdout + res.stderr
        res = _outsider(fed, tmp_path / "o2", fed.fleet_address, "ls", CONNECTION, "--format=json")
        assert json.loads(res.stdout)["success"] is False, res.stdout  # (flwr ls exits 0 here)
        assert "not served on the public Fleet address" in res.stdout
        # ... and submit a run (the whole `fedsim deploy submit` path)
        res = deploy(
            "submit",
            "--superlink",
            fed.fleet_address,
            "--root-certificates",
            str(fed.certs.ca_cert),
            "--quiet",
            *TINY,
            cwd=tmp_path,
            timeout=120,
        )
        assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
        assert "submitted flwr run" not in res.stdout
        assert "not served on the public Fleet address" in res.stderr
        assert fed.nodes_online() == [], "the outsider's key got registered"
        # the operator, on the SuperLink host, registers over the loopback Control API
        fed.register(make_node_key(tmp_path / "operator" / "node-x").with_suffix(".pub"))
        (node,) = fed.nodes_online()
        assert node["status"] == "registered"
        # the SuperLink's database (node tokens) is private to its owner
        for db in (fed.workdir / "superlink").glob("state.db*"):
            assert stat.S_IMODE(db.stat().st_mode) == 0o600, db
        assert (fed.workdir / "superlink" / "state.db").is_file()
    log = (tmp_path / "w" / "logs" / "superlink.log").read_text()
    assert f"Fleet only on {PUBLIC_HOST}:{fed.fleet_port}" in log


def test_deploy_superlink_refuses_public_control_api(tmp_path):
    res = run_fedsim(  # in-process: refused before anything starts
        "deploy",
        "superlink",
        "--fleet-host",
        PUBLIC_HOST,
        "--fleet-port",
        "9092",
        "--host",
        "0.0.0.0",
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "fedsim deploy superlink: error: --host 0.0.0.0 is not loopback:"
        " the Control API must not be public"
    ]


@pytest.mark.integration
def test_failed_local_deploy_removes_its_temporary_workdir(tmp_path):
    """The launcher's temp dir holds the CA and node private keys: gone when the run fails."""
    import subprocess
    import sys

    from tests.conftest import cli_env

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    noapp = tmp_path / "not-a-flower-app"  # `flwr run` fails on it, after the federation is up
    noapp.mkdir()
    res = subprocess.run(
        [sys.executable, "-m", "fedsim", "deploy", "local", "--nodes", "1", "--quiet"]
        + ["--app", str(noapp), *TINY, f"output.root={tmp_path}/runs"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**cli_env(), "TMPDIR": str(tmp)},
        timeout=180,
    )
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    assert "(removed if the run fails)" in res.stdout
    assert "flwr run failed" in res.stderr
    assert list(tmp.glob("fedsim-deploy-*")) == [], "private keys left behind"
