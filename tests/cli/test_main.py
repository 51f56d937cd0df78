"""Bad input on the command line: one clear line, exit code 2, no finished-looking run dir.

The command runs in-process (:func:`tests.cli.invoke.run_fedsim`); one test runs the real
``python -m fedsim`` to keep the console entry point's exit code and stderr honest.
"""

import os
import subprocess
import sys

import pytest
import torch

from tests.cli.invoke import run_fedsim as run_cli
from tests.conftest import cli_env


@pytest.mark.parametrize(
    "args, needle",
    [
        (["strategy=nosuch"], "strategy"),
        (["scenario=nosuch"], "scenario"),
        (["train.lr=-0.1"], "train.lr"),
        (["scenario.num_clients=0"], "scenario.num_clients"),
        (["train.optimizer=rmsprop"], "train.optimizer"),
        (["federation.fraction_train=1.5"], "federation.fraction_train"),
        (["train.lr=abc"], "train.lr"),
        (["scenario.num_clients=5000"], "cannot split"),
        (["scenario.num_tasks=7"], "scenario"),
        (["backend.ray_object_store_mb=10"], "backend.ray_object_store_mb"),
        (["train.lr=nan"], "train.lr"),
        (["log.flwr_level=LOUD"], "log.flwr_level"),
        (["seed=1.5"], "seed: must be an integer"),
        (["train.lrr=1"], "train.lrr: unknown key"),
        (["federation.min_clients=50", "scenario.num_clients=6"], "federation.min_clients"),
        (["output.name=" + "n" * 300], "output.name"),
        (["log.matrix_clients=[99]"], "log.matrix_clients"),
        (["train.device=gpu"], "train.device: unknown value 'gpu'"),
    ],
)
def test_bad_input_one_line_exit_2(args, needle, tmp_path):
    res = run_cli(*args, f"output.root={tmp_path / 'runs'}", cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("fedsim: error:")
    assert needle in lines[0]
    assert "Traceback" not in res.stderr
    runs = tmp_path / "runs"
    leftovers = list(runs.rglob("summary.json")) if runs.exists() else []
    assert leftovers == []
    if runs.exists():  # nothing that looks like a run is left behind
        assert not any(p.name == "status.json" for p in runs.rglob("*"))


def test_allowed_values_listed_for_unknown_strategy(tmp_path):
    res = run_cli("strategy=nosuch", cwd=tmp_path)
    assert "fedavg" in res.stderr and "fedprox" in res.stderr


def test_unwritable_output_dir(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        if os.access(target, os.W_OK):
            pytest.skip("running as a user that can write anywhere (root)")
        res = run_cli(f"output.root={target / 'runs'}", cwd=tmp_path)
        assert res.returncode == 2
        assert "output.root" in res.stderr
    finally:
        target.chmod(0o700)


def test_unwritable_output_dir_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_cli(f"output.root={blocker / 'runs'}", cwd=tmp_path)
    assert res.returncode == 2
    assert "output.root" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_describe_prints_plan(tmp_path):
    res = run_cli("describe", "scenario.num_clients=3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "class_incremental" in res.stdout and "task order" in res.stdout


def test_describe_bad_input(tmp_path):
    res = run_cli("describe", "scenario.num_clients=0", cwd=tmp_path)
    assert res.returncode == 2 and "num_clients" in res.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused_before_the_run(tmp_path):
    res = run_cli("train.device=cuda", f"output.root={tmp_path / 'runs'}", cwd=tmp_path)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("fedsim: error: train.device: cuda requested")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.json"))


def test_python_dash_m_fedsim_bad_input_one_line_exit_2(tmp_path):
    """The real entry point (a subprocess): exit code 2 and one stderr line, no traceback."""
    res = subprocess.run(
        [sys.executable, "-m", "fedsim", "train.lr=-0.1", f"output.root={tmp_path / 'runs'}"],
        capture_output=True, text=True, cwd=tmp_path, env=cli_env(), timeout=180,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.strip() == "fedsim: error: train.lr: must be > 0, got -0.1"
    assert not (tmp_path / "runs").exists()
