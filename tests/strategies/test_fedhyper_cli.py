"""Bad FedHyper bounds or rates on the command line: one line naming the key, exit code 2."""

import pytest

from tests.cli.test_main import run_cli


@pytest.mark.parametrize(
    "args, needle",
    [
        (["lr=fedhyper_g", "lr.server_lr_bounds=[5.0,1.0]"], "server_lr_bounds"),
        (["lr=fedhyper_gm", "lr.server_lr_bounds=[0.0,5.0]"], "server_lr_bounds"),
        (["lr=fedhyper_cl", "lr.local_lr_bounds=[10,0.1]"], "local_lr_bounds"),
        (["lr=fedhyper_full", "lr.hyper_lr=-1"], "hyper_lr"),
        (["lr=fedhyper_full", "lr.momentum=1.5"], "momentum"),
        (["lr=step", "lr.gamma=0"], "gamma"),
    ],
)
def test_bad_fedhyper_input_one_line_exit_2(args, needle, tmp_path):
    res = run_cli(*args, f"output.root={tmp_path / 'runs'}", cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("fedsim: error: lr:") and needle in lines[0]
    assert "Traceback" not in res.stderr
