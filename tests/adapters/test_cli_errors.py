"""Bad adapter settings on the command line: one line naming the key, exit code 2."""

import pytest

from tests.cli.test_main import run_cli


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            [
                "strategy=adapter_avg",
                "strategy.backbone.init=checkpoint",
                "strategy.backbone.path=/no/such.pt",
            ],
            "strategy.backbone.path: checkpoint file '/no/such.pt' does not exist",
        ),
        (["strategy=adapter_bank", "strategy.adapter.rank=0"], "strategy.adapter.rank"),
    ],
)
def test_bad_adapter_input_one_line_exit_2(args, needle, tmp_path):
    res = run_cli(*args, f"output.root={tmp_path / 'runs'}", cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
