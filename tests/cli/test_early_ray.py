"""The ``fedsim`` command starts Ray as soon as the first run's values are valid, before the
dry builds (issue 19: start-up), and shuts it down again when a later check fails."""

import pytest

import fedsim.config.validate as validate_mod
import fedsim.runtime.ray_start as ray_start
from fedsim.cli.main import precheck


@pytest.fixture
def calls(monkeypatch):
    seen: list[tuple[str, object]] = []
    monkeypatch.setattr(ray_start, "start_ray", lambda cfg: seen.append(("start", cfg["seed"])))
    monkeypatch.setattr(ray_start, "abandon_ray_start", lambda: seen.append(("abandon", None)))
    real = validate_mod.validate_objects
    monkeypatch.setattr(validate_mod, "validate_objects",
                        lambda cfg: (seen.append(("objects", cfg["seed"])), real(cfg)))  # fmt: skip
    return seen


def test_ray_starts_before_the_dry_builds_of_a_sweep(calls, tmp_path):
    precheck(["-m", "seed=3,4", "scenario.num_clients=3", f"output.root={tmp_path}"],
             start_ray_early=True)  # fmt: skip
    assert calls == [("start", 3), ("objects", 3), ("objects", 4)]


def test_no_early_start_unless_asked_or_when_nothing_runs(calls, tmp_path):
    precheck(["scenario.num_clients=3", f"output.root={tmp_path}"])
    precheck(["--cfg", "job", f"output.root={tmp_path}"], start_ray_early=True)
    assert [c for c in calls if c[0] == "start"] == []


def test_bad_value_of_the_first_run_starts_nothing(calls, tmp_path):
    with pytest.raises(SystemExit) as exc:
        precheck(["train.lr=-1", f"output.root={tmp_path}"], start_ray_early=True)
    assert exc.value.code == 2
    assert [c[0] for c in calls] == ["abandon"]  # a no-op: nothing was started


def test_a_bad_later_run_shuts_the_early_start_down(calls, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        precheck(["-m", "train.lr=0.1,-1", f"output.root={tmp_path}"], start_ray_early=True)
    assert exc.value.code == 2 and "train.lr" in capsys.readouterr().err
    assert [c[0] for c in calls] == ["start", "objects", "abandon"]
