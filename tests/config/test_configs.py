"""Every YAML in configs/ composes, validates and builds its objects."""

from pathlib import Path

import pytest

from fedsim.config.validate import validate
from fedsim.errors import FedsimError
from tests.conftest import REPO, compose

GROUPS = sorted(
    (p.parent.name, p.stem)
    for p in (REPO / "configs").glob("*/*.yaml")
    if p.parent.name not in ("experiment", "backend", "suite")  # suite: read by `fedsim suite`
)


#: options that need a partner option to run (refused with the default strategy otherwise)
PARTNERS = {("privacy", "prototypes"): ("strategy=fedrecon",)}


@pytest.mark.parametrize("group, name", GROUPS, ids=[f"{g}={n}" for g, n in GROUPS])
def test_group_option_composes_and_builds(group, name, tmp_path):
    partners = PARTNERS.get((group, name), ())
    cfg = compose(f"{group}={name}", *partners, f"output.root={tmp_path}")
    assert cfg[group].get("name", name)
    if (group, name) == ("data", "node_local"):  # the examples live on the nodes
        with pytest.raises(FedsimError, match=r"^data: .* needs scenario=node_local, got scen"):
            validate(cfg)
        validate(compose("data=node_local", "scenario=node_local", f"output.root={tmp_path}"))
        return
    if (group, name) == ("privacy", "secagg"):  # SecAgg+ runs on the deployment engine only
        with pytest.raises(FedsimError, match=r"^privacy\.secagg: SecAgg\+ runs on the deploy"):
            validate(cfg)
        validate(cfg, engine="deployment")
        return
    where = [k for k in ("root", "path") if k in cfg["data"] and cfg["data"][k] is None]
    if group == "data" and where:
        # Sources reading the user's local files: without data.root (data.path) they fail with
        # one line naming the key (their loading is tested on generated files in tests/data/).
        with pytest.raises(FedsimError, match=rf"^data\.{where[0]}: "):
            validate(cfg)
        return
    validate(cfg)


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (REPO / "configs" / "backend").glob("*.yaml"))
)
def test_backend_options_compose(name, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    cfg = compose(f"backend={name}")
    assert cfg["backend"]["name"] == "simulation"


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (REPO / "configs" / "experiment").glob("*.yaml"))
)
def test_experiment_presets_compose_and_build(name, tmp_path):
    cfg = compose(f"+experiment={name}", f"output.root={tmp_path}")
    validate(cfg)


def test_default_config_is_the_flagship_demo():
    cfg = compose()
    assert cfg["scenario"]["name"] == "class_incremental"
    assert cfg["scenario"]["num_clients"] == 20
    assert cfg["strategy"]["name"] == "fedavg"
    assert cfg["backend"]["client_cpus"] == 1


def test_typed_schema_rejects_wrong_types():
    with pytest.raises(Exception, match="train.lr"):
        compose("train.lr=abc")


def test_configs_dir_exists():
    assert (Path(REPO) / "configs" / "config.yaml").is_file()
