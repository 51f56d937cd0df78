"""Deployments that fail end with one line, the right exit code, and no process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.invoke import run_fedsim
from tests.conftest import cli_env
from tests.deployment.test_deployment import TINY, deploy


def processes_under(workdir: Path) -> list[int]:
    """PIDs of this user's processes whose ``FLWR_HOME`` lies under ``workdir``."""
    found = []
    marker = f"FLWR_HOME={workdir}".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("value", ["-1", "0", "abc", "nan"])
def test_bad_node_timeout_exits_2_with_one_line_before_starting_anything(tmp_path, value):
    workdir = tmp_path / "w"
    res = run_fedsim("deploy", "local", "--workdir", str(workdir), "--node-timeout", value, *TINY,
                     cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"fedsim deploy: error: --node-timeout: must be a number of seconds > 0, got '{value}'"
    ]
    assert not workdir.exists()


def test_node_data_without_a_nodes_directory_exits_2(tmp_path):
    res = run_fedsim("deploy", "local", "--workdir", str(tmp_path / "w"), "--node-data",
                     str(tmp_path), *TINY, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(
        "fedsim deploy: error: --node-data: no "
    )


@pytest.mark.integration
def test_a_client_whose_node_never_connects_fails_the_run_and_leaves_no_process(tmp_path):
    workdir = tmp_path / "w"
    res = deploy("local", "--workdir", str(workdir), "--nodes", "1", "--node-timeout", "5",
                 "--quiet", *TINY, f"output.root={tmp_path}/runs", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("fedsim deploy: error: flwr run ") and "finished:failed" in last
    assert "1 of 2 clients have a SuperNode; missing client ids [1]" in last
    (status_file,) = (tmp_path / "runs").rglob("status.json")
    assert json.loads(status_file.read_text())["state"] == "failed"
    assert processes_under(workdir.resolve()) == [], "the launcher left processes behind"
    assert os.path.isdir(workdir), "a --workdir the user gave is kept (logs)"


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.integration
def test_a_superlink_that_dies_mid_run_ends_the_launcher_with_one_line(tmp_path):
    """SIGKILL the SuperLink after round 1: exit 1, one line, `failed`, nothing left running."""
    workdir = (tmp_path / "w").resolve()
    many_rounds = [o for o in TINY if "rounds_per_task" not in o] + [
        "scenario.rounds_per_task=500"
    ]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "fedsim", "deploy", "local", "--workdir", str(workdir),
         "--quiet", *many_rounds, f"output.root={tmp_path}/runs"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=cli_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not list((tmp_path / "runs").rglob("checkpoint.npz")):  # round 1 is done
            assert launcher.poll() is None, launcher.communicate()
            assert time.monotonic() < deadline, "no round finished"
            time.sleep(0.2)
        started = processes_under(workdir)
        (superlink,) = [p for p in started if "split_superlink" in _command_line(p)]
        os.kill(superlink, signal.SIGKILL)
        out, err = launcher.communicate(timeout=180)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 1, out[-2000:] + err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(
        "fedsim deploy: error: the SuperLink died during the run (killed by signal 9; log "
    ), lines[0]
    (status_file,) = (tmp_path / "runs").rglob("status.json")
    status = json.loads(status_file.read_text())
    assert status["state"] == "failed" and "SuperLink died" in status["error"], status
    assert len(started) >= 7  # SuperLink, SuperExec, ServerApp, 2 x (SuperNode + executor)
    assert [p for p in started if _command_line(p)] == [], "the launcher left processes behind"
    assert processes_under(workdir) == []


def test_config_dir_is_searched_and_checked_before_anything_starts(tmp_path):
    """`fedsim deploy --config-dir` composes like `fedsim --config-dir` (a run: test_deployment)."""
    conf = tmp_path / "conf" / "scenario"
    conf.mkdir(parents=True)
    (conf / "empty.yaml").write_text(
        "defaults:\n  - class_incremental\n  - _self_\nnum_clients: 0\n"
    )
    workdir = tmp_path / "w"
    cases = [
        (["local", "scenario=empty"], "scenario=empty: unknown option (allowed: "),
        (["local", "--config-dir", str(tmp_path / "conf"), "scenario=empty"],
         "scenario.num_clients: must be >= 1, got 0"),  # the option was found in the directory
        (["submit", "--insecure", "--superlink", "127.0.0.1:1", "-cd", str(tmp_path / "nope")],
         f"--config-dir: '{tmp_path / 'nope'}' is not a directory"),
    ]  # fmt: skip
    for args, needle in cases:
        if args[0] == "local":
            args = [args[0], "--workdir", str(workdir), *args[1:]]
        res = run_fedsim("deploy", *args, cwd=tmp_path)
        assert res.returncode == 2, res.stderr
        (line,) = res.stderr.strip().splitlines()
        assert line.startswith("fedsim deploy: error: ") and needle in line, line
    assert not workdir.exists()
