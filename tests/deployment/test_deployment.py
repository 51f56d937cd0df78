"""The real deployment engine on loopback: SuperLink + SuperNodes with TLS and node auth."""

import json
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.deployment.federation import LocalFederation
from tests.cli.invoke import run_fedsim
from tests.conftest import REPO, cli_env

# The smallest experiment: 2 clients, 1 task of 2 digits, 2 rounds, 1 local epoch.
TINY = [
    "scenario.num_clients=2",
    "scenario.num_tasks=1",
    "scenario.classes_per_task=2",
    "scenario.rounds_per_task=2",
    "scenario.max_arrival_delay=0",
    "train.epochs=1",
    "log.progress=false",
]


def deploy(*args, cwd, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "fedsim", "deploy", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(),
        timeout=timeout,
    )


def test_bad_override_exits_2_before_starting_anything(tmp_path):
    workdir = str(tmp_path / "w")
    res = run_fedsim("deploy", "local", "--workdir", workdir, "train.lr=-1", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        "fedsim deploy: error: train.lr: must be > 0, got -1.0"
    ]
    assert not (tmp_path / "w").exists()


@pytest.mark.integration
def test_local_deployment_tls_auth_two_rounds(tmp_path):
    pyproject = (REPO / "pyproject.toml").read_bytes()
    res = deploy(
        "local",
        "--workdir",
        str(tmp_path / "w"),
        *TINY,
        f"output.root={tmp_path}/runs",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "TLS + node auth" in res.stdout
    assert (REPO / "pyproject.toml").read_bytes() == pyproject, "flwr run rewrote pyproject.toml"
    (run_dir,) = [p.parent for p in (tmp_path / "runs").rglob("summary.json")]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "completed" and status["engine"] == "deployment"
    assert (run_dir / "config.yaml").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rounds"] == 2 and summary["rejected_replies"] == 0
    assert [h["clients_trained"] for h in summary["history"]] == [2, 2]
    # state kept on the nodes (context.state): both clients reported their boundary evaluation
    assert sorted(summary["client_matrices"]) == ["0", "1"]
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    central = [e.value for e in acc.Scalars("accuracy/central_mean")]
    assert len(central) == 2 and central[-1] == pytest.approx(summary["final_central_acc"])
    assert summary["final_central_acc"] > 0.6, "two digits, two rounds: the federation must learn"
    logs = tmp_path / "w" / "logs"
    names = {"superlink.log", "node-0.log", "node-1.log", "clientapp-0.log", "clientapp-1.log"}
    assert {p.name for p in logs.iterdir()} == names
    for k in range(2):  # both clients trained on their own node, through the real wire path
        assert "Receiving: train message" in (logs / f"node-{k}.log").read_text()
        # ... every message in the node's one long-lived executor (2 rounds + query + eval)
        assert (logs / f"clientapp-{k}.log").read_text().count("task done") == 4


@pytest.mark.integration
def test_unregistered_node_refused_and_failed_run_exits_nonzero(tmp_path):
    # the SuperNode dials the public Fleet API (127.0.0.2 here) with a key nobody registered
    with LocalFederation(tmp_path / "w", 0, fleet_host="127.0.0.2") as fed:
        intruder = fed.start_unregistered_node(0)
        assert fed.fleet_address in " ".join(intruder.proc.args)
        rc = intruder.proc.wait(timeout=120)
        assert rc != 0
        assert "Failed to activate SuperNode" in intruder.log_tail(50)
        assert fed.nodes_online() == []
        # no client ever connects: the ServerApp fails after node-timeout, the command exits 1
        res = deploy(
            "submit",
            "--superlink",
            fed.address,
            "--root-certificates",
            str(fed.certs.ca_cert),
            "--node-timeout",
            "5",
            "--quiet",
            "--output-root",
            str(tmp_path / "runs"),
            *TINY,
            cwd=tmp_path,
        )
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    assert "finished:failed" in res.stderr
    assert "0 of 2 clients have a SuperNode" in res.stderr
    (status_file,) = (tmp_path / "runs").rglob("status.json")
    assert json.loads(status_file.read_text())["state"] == "failed"
