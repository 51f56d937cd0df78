"""Report output of issue 21: short group labels, legends, duplicate seeds, clipped bands."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fedsim.analysis.groups import distinguishing_keys, group_runs
from fedsim.analysis.plots import _band, band_limits
from fedsim.analysis.report import build_report
from fedsim.analysis.runs import Run
from fedsim.analysis.table import group_stats, markdown_table


def make_run(tmp: Path, name: str, seed: int, acc: float, **config) -> Run:
    """A run on disk (summary.json for its mtime) with a config of nested ``config`` keys."""
    path = tmp / f"{name}-{seed}-{acc}"
    path.mkdir(parents=True)
    summary = {"final": {"acc": acc}, "final_central_acc": acc, "bytes_total": 1e6,
               "wall_time_s": 1.0}
    (path / "summary.json").write_text(json.dumps(summary))
    cfg = {"seed": seed, "output": {"root": str(tmp)}, **config}
    return Run(path=path, config=cfg, summary=summary)


def experiment(num_clients: int, tasks: int, epochs: int, strategy: str) -> dict:
    """A config where three scenario/train keys move together (like two +experiment presets)."""
    return {
        "strategy": {"name": strategy},
        "scenario": {"num_clients": num_clients, "num_tasks": tasks, "rounds_per_task": tasks},
        "train": {"epochs": epochs, "batch_size": 8 * tasks},
    }


def test_labels_use_the_few_keys_that_tell_groups_apart(tmp_path):
    runs = [
        make_run(tmp_path, "a", 0, 0.5, **experiment(6, 3, 5, "fedavg")),
        make_run(tmp_path, "b", 0, 0.6, **experiment(6, 3, 5, "fedprox")),
        make_run(tmp_path, "c", 0, 0.7, **experiment(10, 2, 2, "fedavg")),
        make_run(tmp_path, "d", 0, 0.8, **experiment(10, 2, 2, "fedprox")),
    ]
    labels = [g.label for g in group_runs(runs)]
    # five keys differ; the strategy name plus one of the keys that move together suffice
    assert labels == [
        "strategy=fedavg, train.epochs=5",
        "strategy=fedprox, train.epochs=5",
        "strategy=fedavg, train.epochs=2",
        "strategy=fedprox, train.epochs=2",
    ]


def test_distinguishing_keys_falls_back_to_all_when_they_cannot_separate():
    configs = [{"a": 1, "b": 1}, {"a": 1, "b": 1}]
    assert distinguishing_keys(configs, ["a", "b"]) == []
    configs = [{"x.name": "p", "y": 1}, {"x.name": "p", "y": 2}, {"x.name": "q", "y": 1}]
    assert distinguishing_keys(configs, ["x.name", "y"]) == ["x.name", "y"]


def test_long_labels_become_group_ids_in_legends(tmp_path):
    runs = [make_run(tmp_path, "b", 0, 0.5, strategy={"name": "fedavg"})]
    assert [g.legend for g in group_runs(runs[:1])] == ["strategy=fedavg"]
    runs = [make_run(tmp_path, "a", 0, 0.5, strategy={"name": "fedavg"})]
    for i, fill in enumerate("xy"):
        long = {"strategy": {"name": "fedprox", "very_long_option_name": fill * 60}}
        runs.append(make_run(tmp_path, f"c{i}", 0, 0.6, **long))
    short, wide, _ = group_runs(runs)
    assert len(wide.label) > 60 and wide.legend == wide.ident == "G2"
    assert short.legend == "G1"  # all ids once one label is too long for a legend
    assert markdown_table([short, wide]).splitlines()[3].startswith("| G2 | strategy=fedprox, ")


def test_duplicate_seed_is_flagged_not_averaged(tmp_path):
    old = make_run(tmp_path, "a", 0, 0.2, strategy={"name": "fedavg"})
    new = make_run(tmp_path, "a", 0, 0.6, strategy={"name": "fedavg"})
    other = make_run(tmp_path, "a", 1, 0.8, strategy={"name": "fedavg"})
    os.utime(old.path / "summary.json", (1_000, 1_000))
    (group,) = group_runs([old, new, other])
    assert group.seeds == [0, 1]
    assert group.duplicates == [old]
    stats = group_stats(group)["acc"]
    assert stats["n"] == 2 and stats["mean"] == pytest.approx(0.7)  # (0.6 + 0.8) / 2
    assert "0, 1 (+1 duplicate)" in markdown_table([group])


def test_report_warns_and_lists_duplicates(tmp_path, monkeypatch):
    runs = [make_run(tmp_path / "runs", "a", 0, v, strategy={"name": "fedavg"})
            for v in (0.4, 0.5)]
    monkeypatch.setattr("fedsim.analysis.report.collect_runs", lambda paths, warn: runs)
    warnings = []
    data = build_report([tmp_path / "runs"], tmp_path / "out", warn=warnings.append)
    assert len(warnings) == 1 and "repeats seed 0" in warnings[0]
    assert len(data["groups"][0]["duplicates"]) == 1
    md = (tmp_path / "out" / "report.md").read_text()
    assert "**Duplicate runs**" in md and "(duplicate, not averaged)" in md


def test_band_is_clipped_to_the_unit_interval():
    mean, std = np.array([0.05, 0.5, 0.97]), np.array([0.2, 0.1, 0.2])
    low, high = band_limits(mean, std)
    assert low.tolist() == pytest.approx([0.0, 0.4, 0.77])
    assert high.tolist() == pytest.approx([0.25, 0.6, 1.0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    _band(ax, np.arange(3), mean, std, "C0", "x")
    ys = np.concatenate([p.vertices[:, 1] for p in ax.collections[0].get_paths()])
    plt.close(fig)
    assert ys.min() >= 0.0 and ys.max() <= 1.0


def test_table_reports_best_and_boundary_global_accuracy(tmp_path):
    new = make_run(tmp_path, "a", 0, 0.4, strategy={"name": "fedavg"})
    new.summary.update(best_central_acc=0.7, boundary_central_acc=0.65)
    old = make_run(tmp_path, "a", 1, 0.4, strategy={"name": "fedavg"})  # written before
    old.summary["central_matrix"] = [[0.2, 0.4], [0.9, 0.5], [0.3, 0.5]]  # row means .3 .7 .4
    stats = group_stats(group_runs([new, old])[0])
    assert stats["global_best"]["mean"] == pytest.approx(0.7)  # (0.7 + 0.7) / 2
    assert stats["global_boundary"]["n"] == 1 and stats["global_boundary"]["mean"] == 0.65
    assert stats["global_acc"]["mean"] == pytest.approx(0.4)
