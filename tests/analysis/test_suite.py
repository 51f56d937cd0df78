"""Suite files, cells, skip-when-done and the mean ± std table (fedsim.analysis.suite)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from fedsim.analysis.suite import (
    CELL_FILE,
    METRICS,
    cell_done,
    csv_rows,
    load_suite,
    markdown,
    record_cell,
    suite_path,
    suite_table,
)
from fedsim.errors import ConfigError
from tests.conftest import REPO

SUITE = """
name: tiny
version: 2
base: [train.epochs=1]
seeds: [0, 1, 2]
scenarios: {ci: [scenario=class_incremental]}
methods: {a: [strategy=fedavg], b: [strategy=fedprox]}
metrics: [acc, forgetting, bytes_up]
"""


def _suite(tmp_path: Path, text: str = SUITE):
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return load_suite(path)


def test_cells_cover_methods_scenarios_seeds(tmp_path):
    suite = _suite(tmp_path)
    cells = suite.cells()
    assert len(cells) == 2 * 1 * 3
    assert cells[0].overrides == ("train.epochs=1", "scenario=class_incremental",
                                  "strategy=fedavg", "seed=0")
    assert {c.path for c in cells} == {Path(m) / "ci" / f"seed{s}" for m in "ab" for s in range(3)}


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("seeds: [0, 1, 2]", "seeds: [0, 0]"), r"seeds: repeats a seed"),
        (("seeds: [0, 1, 2]", "seeds: []"), r"seeds: must be a non-empty list"),
        (("seeds: [0, 1, 2]", "seeds: [-1]"), r"seeds: must be a non-empty list"),
        (("version: 2", "version: zero"), r"version: must be an integer >= 1"),
        (("metrics: [acc, forgetting, bytes_up]", "metrics: [acc, speed]"), r"unknown 'speed'"),
        (("methods: {a: [strategy=fedavg], b: [strategy=fedprox]}", "methods: {}"),
         r"methods: must map at least one name"),
        (("methods: {a: [strategy=fedavg], b: [strategy=fedprox]}", "methods: {a: 3}"),
         r"methods\.a: must be a list of override strings"),
        (("name: tiny", "nmae: tiny"), r"nmae: unknown key"),
    ],
)
def test_bad_suite_files_are_one_line(tmp_path, edit, match):
    with pytest.raises(ConfigError, match=match) as err:
        _suite(tmp_path, SUITE.replace(*edit))
    assert "\n" not in str(err.value)


def test_suite_path_names_known_suites(tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "x.yaml").write_text(SUITE)
    assert suite_path("x", tmp_path) == tmp_path / "suite" / "x.yaml"
    with pytest.raises(ConfigError, match=r"no suite 'y' \(known: x\)"):
        suite_path("y", tmp_path)


def _fake_run(run_dir: Path, cell, suite, acc: float, forgetting: float, ups, state="completed"):
    record_cell(run_dir, cell, suite)
    (run_dir / "status.json").write_text(json.dumps({"state": state}))
    history = [{"round": i + 1, "bytes_up": b} for i, b in enumerate(ups)]
    summary = {"final": {"acc": acc, "forgetting": forgetting}, "history": history}
    (run_dir / "summary.json").write_text(json.dumps(summary))


def test_cell_done_needs_completed_run_of_the_same_overrides(tmp_path):
    suite = _suite(tmp_path)
    cell = suite.cells()[0]
    run = tmp_path / "out" / cell.path
    assert not cell_done(run, cell)
    _fake_run(run, cell, suite, 0.5, 0.1, [1, 2], state="failed")
    assert not cell_done(run, cell)
    _fake_run(run, cell, suite, 0.5, 0.1, [1, 2])
    assert cell_done(run, cell)
    other = suite.cells()[1]  # other seed: other overrides
    assert not cell_done(run, other)
    recorded = json.loads((run / CELL_FILE).read_text())
    assert recorded["overrides"][-1] == "seed=0"


def test_table_is_mean_and_sample_std_over_seeds(tmp_path):
    suite = _suite(tmp_path)
    rng = np.random.default_rng(7)
    out = tmp_path / "out"
    truth: dict[str, dict[str, list[float]]] = {}
    for cell in suite.cells():
        if cell.method == "b" and cell.seed == 2:
            continue  # a missing cell
        acc, fgt = rng.uniform(), rng.uniform()
        ups = list(rng.integers(0, 1000, size=4))
        _fake_run(out / cell.path, cell, suite, acc, fgt, [int(u) for u in ups])
        t = truth.setdefault(cell.method, {"acc": [], "forgetting": [], "bytes_up": []})
        t["acc"].append(acc)
        t["forgetting"].append(fgt)
        t["bytes_up"].append(sum(int(u) for u in ups) / len(ups))
    table = suite_table(suite, out)
    assert table["missing"] == [str(Path("b") / "ci" / "seed2")]
    for row in table["rows"]:
        for key, values in truth[row["method"]].items():
            got = row["stats"][key]
            assert got["n"] == len(values)
            assert math.isclose(got["mean"], statistics.fmean(values))
            assert math.isclose(got["std"], statistics.stdev(values))
    text = markdown(table)
    assert "| a | 3 |" in text and "| b | 2 |" in text
    assert "Missing cells (1)" in text
    for key in suite.metrics:
        assert METRICS[key].definition in text
    header, *rows = csv_rows(table)
    assert header[:5] == ["method", "scenario", "runs", "acc_mean", "acc_std"]
    assert len(rows) == 2


def test_shipped_suites_parse(tmp_path):
    for path in sorted((REPO / "configs" / "suite").glob("*.yaml")):
        suite = load_suite(path)
        assert suite.name == path.stem
        assert len(suite.seeds) >= 3


def test_bad_cell_override_refused_before_anything_runs(tmp_path, capsys):
    from fedsim.cli.suite import suite_main

    path = tmp_path / "bad.yaml"
    path.write_text(SUITE.replace("strategy=fedprox", "strategy=nope"))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        suite_main(["run", str(path), "--out", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "strategy" in err[0] and "nope" in err[0]
    assert not out.exists()  # nothing ran, nothing written
