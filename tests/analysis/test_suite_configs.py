"""Every cell of every shipped suite composes and validates (CIFAR-100: small real-format files)."""

from __future__ import annotations

import pytest

from fedsim.analysis.suite import load_suite
from fedsim.config.validate import validate
from tests.conftest import REPO, compose
from tests.data.writers import cifar_like

SUITES = sorted((REPO / "configs" / "suite").glob("*.yaml"))


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    cifar_like(root, hundred=True, per_batch=600)  # the real pickle layout, 6 images per class
    return root


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_every_cell_composes_and_validates(path, cifar_root, tmp_path):
    suite = load_suite(path)
    extra = (f"data.root={cifar_root}",) if "cifar" in suite.name else ()
    checked = set()
    for cell in suite.cells(extra):
        if (cell.method, cell.scenario) in checked:
            continue  # seeds do not change what is valid
        checked.add((cell.method, cell.scenario))
        cfg = compose(*cell.overrides, f"output.root={tmp_path}")
        validate(cfg)
    assert len(checked) == len(suite.methods) * len(suite.scenarios)
