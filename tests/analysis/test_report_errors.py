"""`fedsim report` / `fedsim tensorboard` / a bad matrix client: one line, exit 2 (in-process).

Moved from ``test_report.py`` (which needs a real multirun): these need no run at all.
"""

from tests.cli.invoke import run_fedsim
from tests.conftest import SMALL


def test_directory_without_runs_is_a_clear_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    res = run_fedsim("report", str(tmp_path / "empty"), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"fedsim: error: no fedsim runs under '{tmp_path / 'empty'}' (a run directory holds "
        "config.yaml and status.json)"
    ]
    res = run_fedsim("tensorboard", str(tmp_path / "empty"), cwd=tmp_path)
    assert res.returncode == 2 and "no TensorBoard event files" in res.stderr


def test_matrix_client_that_does_not_exist_is_rejected(tmp_path):
    res = run_fedsim(*SMALL, "log.matrix_clients=[7]", "output.root=runs", cwd=tmp_path)
    assert res.returncode == 2
    assert "log.matrix_clients" in res.stderr and "Traceback" not in res.stderr
