"""Object fetches with a short first retry, and the launcher's clean-up helpers."""

from __future__ import annotations

import json
import os
import subprocess
import types

import pytest
from flwr.supercore.inflatable.inflatable_utils import ObjectUnavailableError

from fedsim.deployment import object_pull
from fedsim.deployment.processes import processes_with_env, stop_strays
from fedsim.deployment.submit import flwr_error, settle_run_dir


def test_quick_pulls_retry_an_object_that_is_not_there_yet():
    tries = {"a": 0}

    def pull(object_id: str) -> bytes:  # the object arrives after the first look
        tries[object_id] += 1
        if tries[object_id] == 1:
            raise ObjectUnavailableError(object_id)
        return b"content"

    assert object_pull.quick_pull_objects(["a"], pull) == {"a": b"content"}
    assert tries["a"] == 2


def test_use_quick_pulls_replaces_flowers_pull_in_the_module(monkeypatch):
    import flwr.superlink.grid.http_grid as http_grid
    import flwr.supernode.start_client_internal as loop

    for module in (loop, http_grid):
        monkeypatch.setattr(module, "pull_objects", module.pull_objects)  # restored after
        object_pull.use_quick_pulls(module)
        assert module.pull_objects is object_pull.quick_pull_objects
    seen = {}
    monkeypatch.setattr(object_pull, "pull_objects", lambda *a, **kw: seen.update(kw) or {})
    object_pull.quick_pull_objects(["x"], lambda _: b"")
    assert seen == {"initial_backoff": 0.02, "backoff_cap": 0.5}  # Flower's: 1 s, 10 s
    with pytest.raises(AttributeError, match="has no pull_objects"):
        object_pull.use_quick_pulls(types.ModuleType("not_flower"))


def test_stop_strays_ends_processes_carrying_the_federations_home(tmp_path):
    home = tmp_path / "w"
    mine = subprocess.Popen(["sleep", "60"], env={**os.environ, "FLWR_HOME": f"{home}/superlink"},
                            start_new_session=True)  # fmt: skip
    other = subprocess.Popen(["sleep", "60"], env={**os.environ, "FLWR_HOME": f"{home}x/node"})
    try:
        assert [pid for pid, _ in processes_with_env(f"FLWR_HOME={home}/")] == [mine.pid]
        assert stop_strays(f"FLWR_HOME={home}/", grace_s=5) == [mine.pid]
        assert mine.wait(timeout=5) != 0
        assert other.poll() is None, "a process of another home was hit"
    finally:
        for proc in (mine, other):
            proc.kill()
            proc.wait()


def test_flwr_errors_are_one_line():
    res = subprocess.CompletedProcess([], 0, stdout=json.dumps({
        "success": False,
        "error-message": "Using SuperLink: x\n\nConnection to the SuperLink is unavailable.",
    }), stderr="")  # fmt: skip
    assert flwr_error(res) == "Connection to the SuperLink is unavailable."
    assert flwr_error(subprocess.CompletedProcess([], 3, stdout="", stderr="")) == "exit code 3"


@pytest.mark.parametrize(
    "status, changed",
    [
        ({"state": "running"}, True),
        ({"state": "failed", "error": "signal", "stopped": True}, True),
        ({"state": "failed", "error": "its own reason"}, False),
        ({"state": "completed"}, False),
    ],
)
def test_settle_run_dir_fills_in_only_an_unexplained_end(tmp_path, status, changed):
    (tmp_path / "status.json").write_text(json.dumps({**status, "flwr_run_id": 7}))
    assert settle_run_dir(tmp_path, "the SuperLink died") is changed
    after = json.loads((tmp_path / "status.json").read_text())
    if changed:
        assert after["state"] == "failed" and after["error"] == "the SuperLink died"
        assert after["flwr_run_id"] == 7
    else:
        assert after == {**status, "flwr_run_id": 7}
    assert settle_run_dir(tmp_path / "none", "x") is False
