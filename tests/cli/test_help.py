"""``fedsim --help`` and each command's ``--help`` (real subprocesses, stdout piped), plain
output off a terminal, own config groups, and Hydra's errors as one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fedsim.cli.help import DESCRIPTIONS
from fedsim.cli.main import SUBCOMMANDS
from tests.cli.invoke import run_fedsim
from tests.conftest import cli_env


def fedsim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fedsim", *args],
        capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=120,
    )  # fmt: skip


@pytest.mark.integration  # eight `python -m fedsim` subprocesses (README: not in the fast tier)
def test_every_command_is_listed_and_has_help():
    """One subprocess per command: each prints its usage and exits 0, never a traceback."""
    assert set(SUBCOMMANDS) | {"describe", "run"} == set(DESCRIPTIONS)
    top = fedsim("--help")
    assert top.returncode == 0, top.stderr
    assert "powered by Hydra" not in top.stdout and "Traceback" not in top.stderr
    for command in DESCRIPTIONS:
        assert f"  {command} " in top.stdout
        res = fedsim(command, "--help")
        assert res.returncode == 0 and "Traceback" not in res.stderr, (command, res.stderr)
        assert res.stdout.startswith("usage: fedsim"), (command, res.stdout[:200])


@pytest.mark.integration  # a `python -m fedsim` subprocess
def test_cli_output_into_a_pipe_is_not_wrapped(tmp_path):
    res = fedsim("describe", "scenario.num_clients=3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    first = res.stdout.splitlines()[0]  # 87 characters: rich would wrap it at 80 in a pipe
    assert first == (
        "class_incremental: 3 clients, 5 tasks, 16 rounds, data 'digits' (1347 train / 450 test)"
    )
    assert "\x1b[" not in res.stdout


def test_help_is_fedsims_own_in_process(tmp_path):
    """The same checks without subprocesses, so the fast tier sees a broken --help too."""
    top = run_fedsim("--help", cwd=tmp_path)
    assert top.returncode == 0 and "powered by Hydra" not in top.stdout
    for command in DESCRIPTIONS:
        res = run_fedsim(command, "--help", cwd=tmp_path)
        assert res.returncode == 0 and res.stdout.startswith("usage: fedsim"), command


def test_top_help_lists_config_groups_including_an_own_config_dir(tmp_path):
    (tmp_path / "strategy").mkdir()
    (tmp_path / "strategy" / "my_avg.yaml").write_text("_target_: x.Y\nname: my_avg\n")
    res = run_fedsim("--config-dir", str(tmp_path), "--help", cwd=tmp_path)
    assert res.returncode == 0
    line = next(ln for ln in res.stdout.splitlines() if ln.strip().startswith("strategy "))
    assert "fedavg" in line and "my_avg" in line


def test_output_off_a_terminal_is_not_wrapped(tmp_path):
    """Piped stdout: rich does not wrap at 80 columns and a long path stays on one line."""
    deep = tmp_path / ("a_rather_long_directory_name_" * 4) / "run"
    code = (
        "from pathlib import Path\n"
        "from fedsim.cli.console import print_summary\n"
        "s = {'rounds': 3, 'wall_time_s': 1.0, 'final': {'acc': 0.5}, 'bytes_per_round': 1e6,"
        f" 'tensorboard_dir': str(Path({str(deep)!r}) / 'tb')}}\n"
        f"print_summary(s, Path({str(deep)!r}))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=True
    )
    assert f"run directory: {deep}" in res.stdout.splitlines()
    assert any(len(ln) > 100 for ln in res.stdout.splitlines())
    assert "\x1b[" not in res.stdout  # no colour codes in a pipe


def test_describe_with_own_config_group_and_searchpath(tmp_path):
    conf = tmp_path / "conf" / "scenario"
    conf.mkdir(parents=True)
    (conf / "tiny.yaml").write_text(
        "_target_: scenarios.class_incremental.class_incremental\nname: tiny\n"
        "num_tasks: 2\nclasses_per_task: 2\nnum_clients: 3\n"
    )
    for args in (
        ["--config-dir", str(tmp_path / "conf")],
        [f"hydra.searchpath=[file://{tmp_path / 'conf'}]"],
    ):
        res = run_fedsim("describe", *args, "scenario=tiny", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("class_incremental: 3 clients, 2 tasks")
    res = run_fedsim(
        "--config-dir", str(tmp_path / "conf"), "scenario=tiny", "--cfg", "job", cwd=tmp_path
    )
    assert res.returncode == 0 and "name: tiny" in res.stdout


@pytest.mark.parametrize(
    "args, line",
    [
        (["train.lrr=1"], "train.lrr: unknown key; did you mean train.lr? (allowed: "),
        (
            ["strategy=fedavgg"],
            "strategy=fedavgg: unknown option; did you mean strategy=fedavg? (allowed: ",
        ),
        (["+train.lr=1"], "train.lr: already set; drop the '+'"),
        (["train=foo"], "train: "),
        (["describe", "model=mlpp"], "model=mlpp: unknown option; did you mean model=mlp?"),
    ],
)
def test_hydra_errors_are_one_line_saying_what_is_allowed(args, line, tmp_path):
    res = run_fedsim(*args, f"output.root={tmp_path}", cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("fedsim: error: " + line), res.stderr
    assert "search path" not in res.stderr.lower() and "provider=" not in res.stderr
