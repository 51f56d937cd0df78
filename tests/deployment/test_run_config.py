from pathlib import Path

import pytest

from fedsim.deployment.federation import node_config_string, write_cli_config
from fedsim.deployment.run_config import (
    compose_run_config,
    hydra_overrides,
    node_timeout,
    run_dir_for,
)
from fedsim.deployment.submit import toml_value
from fedsim.errors import ConfigError
from tests.conftest import compose


def test_run_config_composes_like_the_command_line():
    rc = {
        "experiment": "quick",
        "overrides": "scenario.num_clients=3 'output.name=a b' seed=7",
        "output-root": "/tmp/x",
    }
    assert hydra_overrides(rc) == [
        "+experiment=quick",
        "scenario.num_clients=3",
        "output.name=a b",
        "seed=7",
        "output.root=/tmp/x",
    ]
    cfg = compose_run_config(rc)
    assert cfg == compose(*hydra_overrides(rc))
    assert cfg["scenario"]["num_clients"] == 3 and cfg["seed"] == 7
    assert cfg["output"]["root"] == "/tmp/x"


def test_bad_run_config_names_the_key():
    with pytest.raises(ConfigError, match="run-config overrides"):
        compose_run_config({"overrides": "train.nope=1"})
    with pytest.raises(ConfigError, match="run-config overrides"):
        compose_run_config({"overrides": "seed='unclosed"})
    with pytest.raises(ConfigError, match="node-timeout"):
        node_timeout({"node-timeout": 0})
    assert node_timeout({"node-timeout": 12}) == 12.0


def test_node_data_root_needs_a_directory_source():
    from flwr.app import ConfigRecord, Context, RecordDict

    from fedsim import wire
    from fedsim.deployment.node_config import client_config, config_items

    def node(node_config, cfg):
        state = RecordDict({wire.EXPERIMENT_CONFIG: ConfigRecord(config_items(cfg))})
        return Context(run_id=1, node_id=1, node_config=node_config, state=state, run_config={})

    with pytest.raises(ConfigError, match="data-root"):
        client_config(node({"partition-id": 0, "data-root": "/data"}, compose("seed=1")))
    cfg = client_config(node({"partition-id": 0}, compose("seed=1")))
    assert cfg == compose("seed=1")
    mnist = compose("data=mnist", "data.root=/server/copy")
    cfg = client_config(node({"partition-id": 0, "data-root": "/node/copy"}, mnist))
    assert cfg["data"]["root"] == "/node/copy" and cfg["seed"] == mnist["seed"]


def test_node_without_the_servers_config_says_so():
    from flwr.app import Context, RecordDict

    from fedsim.deployment.node_config import MissingExperimentConfigError, client_config

    empty = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
    with pytest.raises(MissingExperimentConfigError, match="first query message"):
        client_config(empty)


def test_run_dir_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose("output.root=rel", "output.name=n")
    run_dir = run_dir_for(cfg, {}, 42)
    assert run_dir.is_absolute() and run_dir.parent == tmp_path / "rel" / "n"
    assert run_dir.name.endswith("-run42")
    assert run_dir_for(cfg, {"run-dir": "x/y"}, 1) == tmp_path / "x" / "y"


def test_flower_config_strings(tmp_path):
    assert node_config_string({"partition-id": 1, "data-root": "/d x", "f": True}) == (
        'partition-id=1 data-root="/d x" f=true'
    )
    assert toml_value("a 'b' \"c\"") == '"a \'b\' \\"c\\""'
    assert toml_value(3.0) == "3.0" and toml_value(False) == "false"
    path = write_cli_config(tmp_path, "127.0.0.1:9", Path("/ca.crt"))
    import tomllib

    conn = tomllib.loads(path.read_text())["superlink"]
    assert conn["default"] == "fedsim-local"
    assert conn["fedsim-local"] == {"address": "127.0.0.1:9", "root-certificates": "/ca.crt"}
    insecure = tomllib.loads(write_cli_config(tmp_path, "h:1", None).read_text())
    assert insecure["superlink"]["fedsim-local"]["insecure"] is True


@pytest.mark.integration  # runs Flower's `flwr build` CLI (a subprocess zipping the checkout)
def test_flower_app_bundle_holds_the_apps_and_configs(tmp_path):
    """`flwr run` ships this checkout as a FAB; the apps import from it (configs included)."""
    import re
    import shutil
    import subprocess
    import tomllib
    import zipfile

    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp

    from fedsim.deployment import apps
    from fedsim.deployment.processes import executable, flower_env
    from tests.conftest import REPO

    components = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["flwr"]["app"]
    assert components["components"] == {
        "serverapp": "fedsim.deployment.apps:server_app",
        "clientapp": "fedsim.deployment.apps:client_app",
    }
    assert isinstance(apps.server_app, ServerApp) and isinstance(apps.client_app, ClientApp)
    (tmp_path / "out").mkdir()
    app = REPO
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,31}", REPO.name):
        # `flwr build` takes the app's name from its folder (a letter, then letters, digits,
        # hyphens, <= 32): a checkout cloned as e.g. `ci_clone` is built from a copy
        app = tmp_path / "fedsim"
        shutil.copytree(REPO, app, ignore=shutil.ignore_patterns(
            ".venv", ".git", "runs", ".tmp", "site", "__pycache__", ".*_cache"))  # fmt: skip
    res = subprocess.run(
        [executable("flwr"), "build", "--app", str(app)],
        capture_output=True,
        text=True,
        cwd=tmp_path / "out",
        env=flower_env(tmp_path / "home"),
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (fab,) = (tmp_path / "out").glob("*.fab")
    names = set(zipfile.ZipFile(fab).namelist())
    for needed in (
        "fedsim/deployment/apps.py",
        "configs/config.yaml",
        "configs/backend/ray_cluster.yaml",
        "strategies/selection.py",
        "scenarios/types.py",
        "pyproject.toml",
    ):
        assert needed in names, needed


def test_deploy_exit_code_follows_the_run_health(capsys):
    from fedsim.cli.deploy import health_exit_code

    assert health_exit_code({"status": "completed"}) == 0
    assert health_exit_code({}) == 0  # no summary: Flower's own status decided
    assert health_exit_code({"status": "degraded", "status_reason": "3 of 8 rounds skipped"}) == 3
    assert "run degraded: 3 of 8 rounds skipped" in capsys.readouterr().err
    assert health_exit_code({"status": "failed", "status_reason": "x"}) == 1
