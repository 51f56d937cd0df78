"""Grouping runs by config minus seed, group labels, mean +- std, and the table cells."""

import math
from pathlib import Path

import pytest

from fedsim.analysis.groups import differing_keys, group_runs, label_of, mean_std
from fedsim.analysis.runs import Run
from fedsim.analysis.table import markdown_table, report_data


def make_run(strategy: dict, seed: int, acc: float, tmp: Path, **extra) -> Run:
    config = {
        "seed": seed,
        "strategy": strategy,
        "train": {"lr": 0.1, "epochs": 2},
        "output": {"root": str(tmp), "name": f"x-{seed}"},
        "log": {"progress": False},
        **extra,
    }
    summary = {
        "final": {"acc": acc, "forgetting": 0.1, "bwt": -0.1, "fwt": None},
        "final_central_acc": acc - 0.05,
        "bytes_total": 2_000_000,
        "wall_time_s": 10.0 + seed,
    }
    return Run(path=tmp / f"{strategy['name']}-{seed}", config=config, summary=summary)


FEDAVG = {"_target_": "flwr.serverapp.strategy.FedAvg", "name": "fedavg"}
PROX = {"_target_": "flwr.serverapp.strategy.FedProx", "name": "fedprox", "proximal_mu": 0.01}
PROX1 = {**PROX, "proximal_mu": 1.0}


def test_runs_differing_only_by_seed_and_outputs_group_together(tmp_path):
    runs = [make_run(FEDAVG, s, 0.5 + 0.1 * s, tmp_path) for s in (0, 1, 2)]
    (group,) = group_runs(runs)
    assert group.seeds == [0, 1, 2]
    assert group.label == "strategy=fedavg"


def test_labels_name_the_differing_keys(tmp_path):
    runs = [
        make_run(FEDAVG, 0, 0.5, tmp_path),
        make_run(PROX, 0, 0.6, tmp_path),
        make_run(PROX1, 1, 0.7, tmp_path),
        make_run(PROX, 1, 0.62, tmp_path),
    ]
    groups = group_runs(runs)
    assert [g.label for g in groups] == [
        "strategy=fedavg",
        "strategy=fedprox, strategy.proximal_mu=0.01",
        "strategy=fedprox, strategy.proximal_mu=1",
    ]
    assert [len(g.runs) for g in groups] == [1, 2, 1]


def test_key_determined_by_the_group_name_is_not_repeated(tmp_path):
    runs = [make_run(FEDAVG, 0, 0.5, tmp_path), make_run(PROX, 0, 0.6, tmp_path)]
    assert [g.label for g in group_runs(runs)] == ["strategy=fedavg", "strategy=fedprox"]


def test_differing_keys_ignores_targets_and_counts_absence():
    a = {"strategy._target_": "A", "strategy.name": "x", "train.lr": 0.1}
    b = {"strategy._target_": "B", "strategy.name": "y", "train.lr": 0.1, "strategy.mu": 1}
    assert differing_keys([a, b]) == ["strategy.mu", "strategy.name"]
    assert label_of(b, ["strategy.mu", "strategy.name"]) == "strategy.mu=1, strategy=y"


def test_mean_std_is_sample_std_and_skips_missing():
    mean, std, n = mean_std([0.5, 0.7, None, float("nan")])
    assert n == 2 and mean == pytest.approx(0.6)
    assert std == pytest.approx(math.sqrt(0.02))
    assert mean_std([0.3]) == (0.3, 0.0, 1)
    assert math.isnan(mean_std([None])[0])


def test_markdown_cells_show_mean_and_std_over_seeds(tmp_path):
    runs = [make_run(FEDAVG, 0, 0.5, tmp_path), make_run(FEDAVG, 1, 0.7, tmp_path)]
    runs.append(make_run(PROX, 0, 0.55, tmp_path))
    groups = group_runs(runs)
    table = markdown_table(groups).splitlines()
    assert table[0].startswith("| id | run group | seeds | ACC | forgetting | BWT | FWT |")
    assert f"| G1 | strategy=fedavg | 0, 1 | 0.6000 ± {math.sqrt(0.02):.4f} |" in table[2]
    assert "| n/a |" in table[2]  # FWT missing in every run
    assert "| 2.000 ± 0.000 | 10.5 ± 0.7 |" in table[2]
    assert "| G2 | strategy=fedprox | 0 | 0.5500 | 0.1000 |" in table[3]
    data = report_data(groups)
    assert data["groups"][0]["stats"]["acc"]["n"] == 2
