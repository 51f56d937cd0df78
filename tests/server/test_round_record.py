"""RoundRecord: typed, read-only, and its JSON row has exactly the keys the round produced."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from fedsim.logging.tags import tag
from fedsim.server.fault_report import fault_summary, round_values
from fedsim.server.round_record import (
    DEADLINE,
    NOT_IN_SUMMARY,
    Attempt,
    CentralEval,
    ClientEval,
    RoundRecord,
    TrainResult,
)


def _full() -> RoundRecord:
    return RoundRecord(
        round=4,
        train=Attempt(
            cohort=[3, 1, 2],
            rejected={2: DEADLINE, 1: "injected crash"},
            faults={"crash": 1},
            unavailable=[3],
            missing=[2],
            asked=2,
            unexpected=[2],
        ),
        curriculum={"client_sweep": 1.0, "difficulty": 0.5},
        selection_why="round 4: easiest first",
        failures=3,
        retry=Attempt(cohort=[0], rejected={0: "bad"}, faults={}, unavailable=[], missing=[],
                      asked=1, unexpected=[0]),  # fmt: skip
        bytes_down=100,
        bytes_up=40,
        clients_trained=1,
        late_dropped=2,
        update_norms=[1.5],
        result=TrainResult(0.25, [0.5], [0.01], {"lr/server": 1.0, "lr/client_mean": 0.01}),
        central=CentralEval(0.75, [0.5, 1.0]),
        client_eval=ClientEval(asked=2, rejected={5: "x"}, accs=[0.8], failures=1,
                               boundary_rows=1, acc=0.8, loss=0.3),  # fmt: skip
        round_time_s=1.25,
        cl_running={"acc": 0.7},
    )


def test_row_keys_are_in_the_loop_order_and_the_record_round_trips():
    row = _full().to_dict()
    assert list(row) == [
        "round", "cohort", "failures", "rejected", "curriculum", "selection_why", "faults",
        "unavailable", "missing", "asked", "unexpected", "retry", "bytes_down", "bytes_up",
        "clients_trained", "late_dropped", "update_norms", "train_loss",
        "client_difficulties", "client_lrs", "lr/server", "lr/client_mean", "central_acc",
        "central_task_acc", "eval_asked", "eval_rejected", "client_acc", "client_eval_loss",
        "client_accs", "eval_failures", "boundary_rows", "round_time_s", "cl_running",
    ]  # fmt: skip
    assert row["rejected"] == {"2": DEADLINE, "1": "injected crash"}
    assert list(row["retry"]) == [
        "cohort", "rejected", "faults", "unavailable", "missing", "asked", "unexpected"
    ]  # fmt: skip
    assert RoundRecord.from_dict(json.loads(json.dumps(row))) == _full()
    assert not set(NOT_IN_SUMMARY) & set(_full().summary_dict())


def test_parts_a_round_did_not_produce_are_absent():
    empty = RoundRecord(round=1, train=Attempt(cohort=[]))
    assert list(empty.to_dict()) == [
        "round", "cohort", "failures", "rejected", "curriculum", "selection_why", "bytes_down",
        "bytes_up", "clients_trained", "round_time_s", "cl_running",
    ]  # fmt: skip
    skipped = dataclasses.replace(empty, late_dropped=0, skipped="0 valid replies")
    row = skipped.to_dict()
    assert row["skipped"] == "0 valid replies" and "train_loss" not in row
    back = RoundRecord.from_dict(row)
    assert back == skipped and back.result is None and back.lr == {}
    no_aggregate = dataclasses.replace(_full(), client_eval=ClientEval(1, {}, [], 0, 0))
    assert "client_acc" not in no_aggregate.to_dict()


def test_a_record_cannot_be_edited():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _full().skipped = "edited"  # type: ignore[misc]


def test_nan_values_come_back_from_the_summary_form():
    nan = dataclasses.replace(_full(), result=TrainResult(float("nan"), [], [float("nan")], {}))
    row = json.loads(json.dumps(nan.to_dict()).replace("NaN", "null"))
    back = RoundRecord.from_dict(row)
    assert math.isnan(back.train_loss) and math.isnan(back.result.client_lrs[0])


def test_fault_bookkeeping_reads_both_attempts():
    values = round_values(_full())
    assert values[tag("rejected")] == 2 and values[tag("missed_deadline")] == 1
    summary = fault_summary([_full()])
    assert summary["rejected_by_round"] == {"4": 3}
    assert summary["rejected_by_client"]["0"] == [{"round": 4, "attempt": 1, "reason": "bad"}]
    assert summary["faults_injected"] == {"crash": 1} and summary["late_replies_dropped"] == 2
