"""The sweep summariser reads real run outputs (config.yaml + summary.json) into the table."""

import importlib.util
import json

import yaml

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location(
    "fedhyper_table", REPO / "benchmarks" / "fedhyper_table.py"
)
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)


def write_run(root, name, strategy, lr_name, lr, accs):
    run = root / name
    run.mkdir(parents=True)
    cfg = {"seed": 0, "scenario": {"partition": "iid"}, "train": {"lr": lr},
           "strategy": {"name": strategy}, "lr": {"name": lr_name}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    hist = [{"round": i + 1, "central_acc": a} for i, a in enumerate(accs)]
    summary = {"final_central_acc": accs[-1], "history": hist, "rounds": len(accs)}
    (run / "summary.json").write_text(json.dumps(summary))


def test_table_rounds_to_target_and_speedup(tmp_path, capsys):
    write_run(tmp_path, "a", "fedavg", "fixed", 0.01, [0.2, 0.5, 0.7, 0.85])
    write_run(tmp_path, "b", "fedavg", "fedhyper_gm", 0.01, [0.3, 0.82, 0.9, 0.95])
    write_run(tmp_path, "c", "fedadam", "fixed", 0.01, [0.1, 0.2, 0.3, 0.4])
    assert table.main([str(tmp_path), "--target", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "| 0.01 | 0.850 (4) | 0.950 (2) | 0.400 (>4) |" in out
    assert "+10.0 pt, 2x" in out and "-45.0 pt, never" in out
    assert table.main([str(tmp_path / "nothing")]) == 2
