"""One real Flower simulation on Ray with DP-SGD, through the `fedsim` command; a refusal."""

import json

import pytest

from tests.conftest import SMALL
from tests.integration.test_simulation import load_events, run_cli

pytestmark = pytest.mark.integration

PRIVACY_TAGS = ("privacy/epsilon", "privacy/epsilon_mean", "privacy/clip_norm",
                "privacy/noise_multiplier", "privacy/clipped_fraction")  # fmt: skip


def test_dp_sgd_on_ray_reports_epsilon_in_summary_console_and_tensorboard(tmp_path):
    res = run_cli(*SMALL, "train.epochs=1", "privacy=dp_sgd", f"output.root={tmp_path}",
                  "backend.max_messages=2", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "privacy (dp_sgd) epsilon" in res.stdout
    (summary_path,) = tmp_path.rglob("summary.json")
    privacy = json.loads(summary_path.read_text())["privacy"]
    eps = privacy["client_epsilon"]
    assert sorted(eps) == ["0", "1", "2", "3"] and privacy["epsilon"] == max(eps.values())
    tags = load_events(summary_path.parent / "tb").Tags()["scalars"]
    assert set(PRIVACY_TAGS) <= set(tags)


def test_unsupported_privacy_pair_stops_before_ray_with_one_line(tmp_path):
    res = run_cli(f"output.root={tmp_path}", "strategy=fedproto", "privacy=dp_sgd", cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "fedsim: error: privacy: privacy=dp_sgd cannot run with strategy=fedproto:"
    )
    assert not list(tmp_path.rglob("summary.json"))
