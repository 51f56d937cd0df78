"""`fedsim resume` refuses a finished run with one line and exit code 2 (in-process).

A finished run's results are never overwritten. The Ray resume test checked this after its
fedrecon kill -9 case; a real finished run directory (config.yaml, a valid checkpoint,
status ``completed``) is all the refusal needs.
"""

import json

from fedsim.server.state import CHECKPOINT_NAME
from tests.cli.invoke import run_fedsim
from tests.server.test_tampered_checkpoint import _run_dir


def test_finished_run_is_not_resumed(tmp_path):
    _, run_dir = _run_dir(tmp_path)
    (run_dir / "status.json").write_text(json.dumps({"state": "completed"}))
    before = (run_dir / CHECKPOINT_NAME).read_bytes()
    res = run_fedsim("resume", str(run_dir), cwd=tmp_path)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "already completed" in lines[0], res.stderr
    assert json.loads((run_dir / "status.json").read_text())["state"] == "completed"
    assert (run_dir / CHECKPOINT_NAME).read_bytes() == before
