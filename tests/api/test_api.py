"""The Python API without Ray: compose, refusals before anything runs, load_result, import cost."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import pytest

import fedsim
from fedsim.errors import ConfigError, DataError, FedsimError
from tests.conftest import REPO, cli_env
from tests.fake_grid import run_experiment


def test_import_fedsim_loads_nothing_heavy():
    code = (
        "import sys, fedsim\n"
        "heavy = [m for m in ('numpy', 'torch', 'flwr', 'hydra', 'ray', 'omegaconf') "
        "if m in sys.modules]\n"
        "print(heavy, callable(fedsim.run), 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=True
    ).stdout
    assert out.strip() == "[] True False"  # fedsim.run resolves lazily, still without torch


def test_api_modules_neither_print_nor_exit():
    for path in sorted((REPO / "fedsim" / "api").glob("*.py")):
        calls = [
            ast.unparse(n.func)
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call)
        ]
        assert not [c for c in calls if c in ("print", "sys.exit", "exit")], path


def test_compose_returns_a_plain_dict_without_progress_bar(tmp_path):
    cfg = fedsim.compose(["strategy=fedprox", "seed=3", f"output.root={tmp_path}"])
    assert type(cfg) is dict and cfg["seed"] == 3 and cfg["strategy"]["name"] == "fedprox"
    assert cfg["log"]["progress"] is False
    assert fedsim.compose(["log.progress=true"])["log"]["progress"] is True  # caller wins


@pytest.mark.parametrize(
    "overrides, key, needle",
    [
        (["train.lrr=1"], "train.lrr", "unknown key; did you mean train.lr?"),
        (["strategy=fedavgg"], "strategy=fedavgg", "unknown option; did you mean strategy=fedavg?"),
        (["seed=1.5"], "seed", "must be an integer"),
        (["+train.lr=1"], "train.lr", "already set"),
        (["train.lr=="], "train.lr", "cannot parse"),
    ],
)
def test_compose_errors_are_one_line_config_errors(overrides, key, needle):
    with pytest.raises(ConfigError) as info:
        fedsim.compose(overrides)
    assert info.value.key == key and needle in str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert "search path" not in str(info.value).lower()


def test_config_dir_adds_a_group_option(tmp_path):
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "mine.yaml").write_text(
        "_target_: fedsim.data.arrays.NpzSource\nname: mine\npath: /somewhere.npz\n"
    )
    cfg = fedsim.compose(["data=mine"], config_dir=tmp_path / "conf")
    assert cfg["data"]["path"] == "/somewhere.npz"
    with pytest.raises(ConfigError, match="data=mine: unknown option"):
        fedsim.compose(["data=mine"])
    with pytest.raises(ConfigError, match=r"^--config-dir: .* is not a directory"):
        fedsim.compose([], config_dir=tmp_path / "nope")


def test_run_refuses_bad_input_before_anything_runs(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"^train\.lr: "):
        fedsim.run(["train.lr=-1"], out_dir=out)
    x, y = np.zeros((4, 3)), np.array([0.0, 1.0, 0.0, 1.0])
    with pytest.raises(DataError, match="'y' must be a 1-D array of integer labels"):
        fedsim.run([], data=(x, y), out_dir=out)
    with pytest.raises(ConfigError, match=r"^data: expected \(x, y\)"):
        fedsim.run([], data=[x, y], out_dir=out)
    with pytest.raises(ConfigError, match="expected a list of 'key=value' strings"):
        fedsim.run("strategy=fedprox", out_dir=out)
    assert not out.exists()  # nothing left that looks like a run


def test_a_complete_dict_is_checked_against_the_schema(tmp_path):
    cfg = fedsim.compose([f"output.root={tmp_path}"])
    cfg["train"]["lr"] = "fast"
    with pytest.raises(ConfigError, match=r"^train\.lr: must be a number"):
        fedsim.run(cfg, out_dir=tmp_path / "r")
    del cfg["train"]
    cfg.pop("data")
    with pytest.raises(ConfigError, match=r"^data: "):
        fedsim.run(cfg, out_dir=tmp_path / "r")


def test_load_result_reads_a_finished_run(tmp_path):
    from fedsim.runtime.run_dir import mark

    run_dir, summary = run_experiment(
        tmp_path, "scenario.num_clients=3", "scenario.num_tasks=2", "scenario.rounds_per_task=1",
        "scenario.max_arrival_delay=0", "train.epochs=1",
    )  # fmt: skip
    mark(run_dir, "completed")
    res = fedsim.load_result(run_dir)
    assert res.status == "completed" and res.reason is None
    assert res.metrics["acc"] == summary["final"]["acc"]
    assert res.metrics["central_acc"] == summary["final_central_acc"]
    fed = res.accuracy_matrix
    assert fed.shape == (2, 2) and np.allclose(fed, np.array(summary["federation_matrix"]))
    assert res.central_matrix.shape == (len(res.central_rounds), 2)
    assert [r["round"] for r in res.rounds] == [1, 2]
    assert set(res.client_matrices) <= {0, 1, 2} and res.config["scenario"]["num_clients"] == 3
    assert "completed" in str(res) and str(run_dir) in str(res)


def test_load_result_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(FedsimError, match="not a fedsim run directory"):
        fedsim.load_result(tmp_path)
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "summary.json").write_text(json.dumps([1]))
    with pytest.raises(FedsimError, match="does not hold a JSON object"):
        fedsim.load_result(tmp_path)
