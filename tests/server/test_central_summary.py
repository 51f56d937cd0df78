"""summary.json, TensorBoard and the console table report the global model's best round and
final task boundary next to the last round (issue 21); one small run on the fake grid."""

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedsim.cli.console import print_summary
from fedsim.experiment import get_experiment
from tests.conftest import SMALL
from tests.fake_grid import run_experiment

# 4 clients, 3 tasks of 1 round, arrivals delayed by up to 2 rounds: the last rounds train
# only the late arrivals
LATE = [*SMALL, "scenario.num_tasks=3", "scenario.max_arrival_delay=2", "seed=2"]


def test_summary_tensorboard_and_console_report_best_and_boundary(tmp_path, capsys):
    run_dir, summary = run_experiment(tmp_path, *LATE)
    rounds = [r["round"] for r in summary["history"] if r.get("central_acc") is not None]
    accs = [r["central_acc"] for r in summary["history"] if r.get("central_acc") is not None]
    # second implementation: the first full stream ends at min over clients of their last slot
    from tests.conftest import compose

    plan = get_experiment(compose(*LATE, f"output.root={tmp_path}")).plan
    boundary = min(max(s.end_round for s in st.slots) for st in plan.streams if st.slots)
    assert boundary < summary["rounds"], "the scenario must have late arrivals"
    assert summary["boundary_central_round"] == boundary
    assert summary["boundary_central_acc"] == accs[rounds.index(boundary)]
    assert summary["best_central_acc"] == max(accs)
    assert summary["best_central_round"] == rounds[int(np.argmax(accs))]
    assert summary["final_central_acc"] == accs[-1]

    ea = EventAccumulator(str(run_dir / "tb"))
    ea.Reload()
    for key in ("best", "boundary", "last"):
        (event,) = ea.Scalars(f"final/central_acc_{key}")
        want = summary["final_central_acc" if key == "last" else f"{key}_central_acc"]
        assert event.step == 0 and event.value == np.float32(want)

    summary["tensorboard_dir"] = str(run_dir / "tb")
    print_summary(summary, run_dir / ("a-long-directory-name-" * 6))
    out = capsys.readouterr().out
    assert f"best round ({summary['best_central_round']})" in out
    assert f"final task boundary ({boundary})" in out
    assert f"last round ({rounds[-1]})" in out
    # not a terminal: no wrapping, the long path stays on one line, no colour codes
    assert str(run_dir / ("a-long-directory-name-" * 6)) in out and "\x1b[" not in out
