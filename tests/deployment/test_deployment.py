"""The real deployment engine on loopback: SuperLink + SuperNodes with TLS and node auth."""

import json
import subprocess
import sys

import pytest
import yaml
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


# Not saturated (global accuracy ~0.39 after round 1, ~0.83 after round 2), so two runs that
# trained differently cannot both reach the same numbers by hitting 1.0.
UNSATURATED = [o for o in TINY if "classes_per_task" not in o] + [
    "scenario.classes_per_task=3",
    "train.lr=0.01",
]
TIMING = {"wall_time_s", "tensorboard_dir"}
ROUND_TIMING = {"round_time_s", "client_train_s"}


def without_timing(summary: dict) -> dict:
    """A summary without its wall-clock fields (everything else is a function of the seed)."""
    out = {k: v for k, v in summary.items() if k not in TIMING}
    out["history"] = [
        {k: v for k, v in h.items() if k not in ROUND_TIMING} for h in summary["history"]
    ]
    return out


@pytest.fixture(scope="module")
def warm_run(tmp_path_factory):
    """``fedsim deploy local`` (long-lived executors, the default) on UNSATURATED, once."""
    tmp = tmp_path_factory.mktemp("warm")
    pyproject = (REPO / "pyproject.toml").read_bytes()
    res = deploy("local", "--workdir", str(tmp / "w"), *UNSATURATED, f"output.root={tmp}/runs",
                 cwd=tmp)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (REPO / "pyproject.toml").read_bytes() == pyproject, "flwr run rewrote pyproject.toml"
    (run_dir,) = [p.parent for p in (tmp / "runs").rglob("summary.json")]
    return res, tmp, run_dir


@pytest.mark.integration
def test_local_deployment_tls_auth_two_rounds(warm_run):
    res, tmp_path, run_dir = warm_run
    assert "TLS + node auth" in res.stdout
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
    assert summary["final_central_acc"] > 0.6, "three digits, two rounds: the federation learns"
    assert summary["final"]["acc"] < 0.95, "saturated: cannot tell two executors apart"
    logs = tmp_path / "w" / "logs"
    names = {"superlink.log", "node-0.log", "node-1.log", "clientapp-0.log", "clientapp-1.log"}
    assert {p.name for p in logs.iterdir()} == names
    for k in range(2):  # both clients trained on their own node, through the real wire path
        assert "Receiving: train message" in (logs / f"node-{k}.log").read_text()
        # ... every message in the node's one long-lived executor (2 rounds + query + eval)
        assert (logs / f"clientapp-{k}.log").read_text().count("task done") == 4


@pytest.mark.integration
def test_a_process_per_message_gives_the_warm_executors_numbers(warm_run, tmp_path):
    """Flower's fresh flwr-clientapp per message == the long-lived executor, number for number.

    The scenario comes from a ``--config-dir`` here (the ServerApp composes with it), so this
    run also shows that flag reaching the deployment; the composed configs must be equal.
    """
    _, _, warm_dir = warm_run
    conf = tmp_path / "conf" / "scenario"
    conf.mkdir(parents=True)
    (conf / "three_digits.yaml").write_text(
        "defaults:\n  - class_incremental\n  - _self_\nclasses_per_task: 3\n"
    )
    overrides = [o for o in UNSATURATED if o != "scenario.classes_per_task=3"]
    res = deploy("local", "--isolation", "subprocess", "--quiet", "--workdir", str(tmp_path / "w"),
                 "--config-dir", str(tmp_path / "conf"), "scenario=three_digits", *overrides,
                 f"output.root={tmp_path}/runs", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (run_dir,) = [p.parent for p in (tmp_path / "runs").rglob("summary.json")]
    assert not list((tmp_path / "w" / "logs").glob("clientapp-*.log")), "no warm executor here"
    configs = [yaml.safe_load((d / "config.yaml").read_text()) for d in (warm_dir, run_dir)]
    for cfg in configs:
        cfg.pop("output")
    assert configs[0] == configs[1]
    warm, fresh = (json.loads((d / "summary.json").read_text()) for d in (warm_dir, run_dir))
    assert 0.3 < warm["history"][0]["central_acc"] < warm["final_central_acc"] < 0.95
    assert without_timing(fresh) == without_timing(warm)


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
