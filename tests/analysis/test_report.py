"""`fedsim report` and `fedsim tensorboard` on event files written by a real multirun."""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.analysis.groups import mean_std
from fedsim.logging.layout import custom_scalars_layout
from fedsim.runtime.run_dir import mark
from tests.cli.invoke import run_fedsim
from tests.conftest import SMALL, cli_env

pytestmark = pytest.mark.integration
SEEDS = (0, 1)


def run_cli(*args, cwd, timeout=600):
    """A real ``python -m fedsim`` (the multirun on Ray)."""
    return subprocess.run(
        [sys.executable, "-m", "fedsim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(),
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def multirun(tmp_path_factory) -> Path:
    """A real two-seed Hydra multirun of the SMALL federation (relative root: short dirs)."""
    cwd = tmp_path_factory.mktemp("multirun")
    res = run_cli("-m", *SMALL, "output.root=runs", "log.matrix_clients=[0,1]",
                  "seed=" + ",".join(map(str, SEEDS)), cwd=cwd, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    (sweep,) = (cwd / "runs" / "multirun").iterdir()
    assert len(list(sweep.rglob("summary.json"))) == len(SEEDS)
    return sweep


def summaries(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("summary.json"))]


def test_report_table_matches_summaries(multirun, tmp_path):
    out = tmp_path / "rep"
    res = run_fedsim("report", str(multirun), "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads((out / "report.json").read_text())
    (group,) = data["groups"]  # same config, two seeds: one group
    assert sorted(group["seeds"]) == list(SEEDS)
    sums = summaries(multirun)
    expected = {
        "acc": [s["final"]["acc"] for s in sums],
        "forgetting": [s["final"]["forgetting"] for s in sums],
        "bwt": [s["final"]["bwt"] for s in sums],
        "fwt": [s["final"]["fwt"] for s in sums],
        "global_acc": [s["final_central_acc"] for s in sums],
        "bytes": [s["bytes_total"] for s in sums],
        "wall_time": [s["wall_time_s"] for s in sums],
    }
    for key, values in expected.items():
        mean, std, n = mean_std(values)
        assert group["stats"][key]["n"] == n == len(SEEDS), key
        assert group["stats"][key]["mean"] == pytest.approx(mean), key
        assert group["stats"][key]["std"] == pytest.approx(std), key
    md = (out / "report.md").read_text()
    acc_mean, acc_std, _ = mean_std(expected["acc"])
    assert f"| {acc_mean:.4f} ± {acc_std:.4f} |" in md
    for s in sums:  # the per-run table carries each run's own numbers
        assert f"| {s['final']['acc']:.4f} | {s['final']['forgetting']:.4f} |" in md
    for name in data["figures"]:
        assert f"]({name})" in md


def test_plots_are_non_trivial_images(multirun, tmp_path):
    import matplotlib.image as mpimg

    out = tmp_path / "rep"
    assert run_fedsim("report", str(multirun), "--out", str(out), cwd=tmp_path).returncode == 0
    names = ["accuracy_over_rounds.png", "forgetting_per_task.png", "accuracy_vs_communication.png"]
    for name in names:
        path = out / name
        assert path.stat().st_size > 15_000, name
        img = mpimg.imread(path)[:, :, :3]
        assert img.shape[0] > 300 and img.shape[1] > 500, name
        assert float(img.std()) > 0.05, f"{name} looks blank"
        coloured = np.mean(np.abs(img - img.mean(axis=2, keepdims=True)).sum(axis=2) > 0.2)
        assert coloured > 0.002, f"{name} has no coloured curves or bars"


def test_custom_scalars_layout_hparams_and_heatmaps_in_events(multirun):
    from tensorboard.plugins.custom_scalar import layout_pb2

    tb = sorted(multirun.rglob("tb"))[0]
    acc = EventAccumulator(str(tb), size_guidance={"tensors": 0, "images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    layout = layout_pb2.Layout()
    layout.ParseFromString(acc.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    assert [c.title for c in layout.category] == list(custom_scalars_layout())
    charted = {t for c in layout.category for ch in c.chart for t in ch.multiline.tag}
    assert "^cl/forgetting$" in charted and "^accuracy_task/task_.+$" in charted
    hp = acc.PluginTagToContent("hparams")
    assert set(hp) == {"_hparams_/session_start_info", "_hparams_/session_end_info"}
    from tensorboard.plugins.hparams import metadata

    start = metadata.parse_session_start_info_plugin_data(hp["_hparams_/session_start_info"])
    assert start.hparams["strategy.name"].string_value == "fedavg"
    assert start.hparams["seed"].number_value in SEEDS
    assert start.hparams["scenario.num_clients"].number_value == 4
    assert {"accuracy_matrix/federation", "accuracy_matrix/client_0"} <= set(tags["images"])
    assert "accuracy_matrix/client_1" in tags["images"]
    assert "updates/norm_distribution" in tags["histograms"]
    assert "accuracy/client_eval_distribution" in tags["histograms"]
    norms = [e.value for e in acc.Scalars("updates/norm_mean")]
    assert norms and all(n > 0 for n in norms)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_tensorboard_serves_runs_and_compares_hparams(multirun, tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fedsim", "tensorboard", str(multirun), "--port", str(port)],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        tags, deadline = None, time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + "/data/plugin/scalars/tags", timeout=5) as r:
                    tags = json.loads(r.read())
                if len(tags) == len(SEEDS):
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(1)
        assert tags is not None and len(tags) == len(SEEDS), tags
        assert all("accuracy/central_mean" in t for t in tags.values())
        exp = _post(base + "/data/plugin/hparams/experiment", {"experimentName": ""})
        differs = {h["name"] for h in exp["hparamInfos"] if h.get("differs")}
        assert differs == {"seed"}
        groups = _post(base + "/data/plugin/hparams/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 100, "colParams": [],
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_RUNNING"],
        })
        assert groups["totalSize"] == len(SEEDS)  # the multirun's runs in one table
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_incomplete_runs_skipped_or_clear_error(multirun, tmp_path):
    runs = sorted(p.parent for p in multirun.rglob("status.json"))
    running = tmp_path / "copy" / "running-run"
    shutil.copytree(runs[0], running)
    (running / "summary.json").unlink()
    mark(running, "running")
    res = run_fedsim("report", str(running), "--out", str(tmp_path / "r1"), cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "still in progress" in lines[0] and str(running) in lines[0]
    assert not (tmp_path / "r1").exists()
    res = run_fedsim("report", str(running), str(runs[1]), "--out", str(tmp_path / "r2"),
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "warning: skipping run" in res.stderr and "still in progress" in res.stderr
    assert json.loads((tmp_path / "r2" / "report.json").read_text())["groups"][0]["seeds"] == [1]
