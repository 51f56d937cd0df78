"""The final status tells the truth: hand-made round histories and evaluation replies."""

from __future__ import annotations

import pytest
from flwr.app import ConfigRecord, Error, Message

from fedsim import wire
from fedsim.server.health import EXIT_CODES, assess
from fedsim.server.reply_checks import check_eval_reply
from fedsim.server.round_record import RoundRecord
from tests.server.replies import _metadata, make_reply

FED = {"degraded_policy": "degrade", "max_fraction_rejected": 0.05, "max_fraction_skipped": 0.0}


def row(rnd, asked=4, unexpected=(), rejected=None, faults=None, skipped=None, **extra):
    out = {"round": rnd, "asked": asked, "unexpected": list(unexpected),
           "rejected": rejected or {c: "error reply: boom" for c in unexpected}}  # fmt: skip
    if faults:
        out["faults"] = faults
    if skipped:
        out["skipped"] = skipped
    return {**out, **extra}


def records(rows):
    """The round records the loop would have built (read back from their JSON rows)."""
    return [RoundRecord.from_dict(r) for r in rows]


def test_clean_run_is_completed():
    result = assess(records([row(r) for r in range(1, 11)]), 0.5, FED)
    assert result["status"] == "completed" and result["status_reason"] is None
    assert EXIT_CODES[result["status"]] == 0


def test_injected_faults_do_not_degrade():
    rows = [row(r, rejected={1: "injected crash"}, faults={"crash": 1}) for r in range(1, 11)]
    rows[3]["skipped"] = "0 valid replies"  # skipped because of the injected faults only
    assert assess(records(rows), 0.5, FED)["status"] == "completed"


def test_dead_actor_replies_degrade_with_reason():
    dead = "error reply: ActorDiedError: The actor died unexpectedly"
    rows = [row(r, unexpected=[3], rejected={3: dead}) for r in range(1, 11)]
    result = assess(records(rows), 0.2, FED)
    assert result["status"] == "degraded" and EXIT_CODES["degraded"] == 3
    assert "10 of 40 client replies rejected (10 from a dead Ray actor)" in result["status_reason"]
    assert "round 1 client 3" in result["status_reason"]


def test_policy_fail_turns_degraded_into_failed():
    rows = [row(r, unexpected=[0, 1]) for r in range(1, 4)]
    result = assess(records(rows), None, {**FED, "degraded_policy": "fail"})
    assert result["status"] == "failed" and EXIT_CODES["failed"] == 1


def test_threshold_is_respected():
    rows = [row(r) for r in range(1, 20)] + [row(20, unexpected=[2])]  # 1 of 80 = 1.25%
    assert assess(records(rows), 0.5, FED)["status"] == "completed"
    strict = {**FED, "max_fraction_rejected": 0.01}
    assert assess(records(rows), 0.5, strict)["status"] == "degraded"


def test_every_round_skipped_is_degraded():
    rows = [row(r, asked=0, skipped="strategy produced no aggregate") for r in range(1, 6)]
    result = assess(records(rows), None, FED)
    assert result["status"] == "degraded"
    assert "5 of 5 rounds skipped" in result["status_reason"]


def test_rejected_evaluation_replies_and_acc_na_are_reported():
    rows = [row(r) for r in range(1, 5)]
    rows[-1].update(eval_asked=4, eval_rejected={c: f"missing record '{wire.TASK_EVAL}'"
                                                  for c in range(4)})  # fmt: skip
    result = assess(records(rows), None, FED)
    assert result["status"] == "degraded"
    assert "ACC is n/a: 4 evaluation replies rejected" in result["status_reason"]
    assert wire.TASK_EVAL in result["status_reason"]


def _eval_reply(task_eval=True, acc=True, error=False):
    if error:
        return Message(error=Error(code=3, reason="ClientApp raised"), metadata=_metadata())
    metrics = {wire.EVAL_ACC: 0.5} if acc else {"other": 1.0}
    reply = make_reply(None, metrics)
    if task_eval:
        reply.content[wire.TASK_EVAL] = ConfigRecord(
            {wire.EVAL_POSITIONS: [0], wire.EVAL_ACCURACIES: [0.5]}
        )
    return reply


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"task_eval": False}, wire.TASK_EVAL),
        ({"acc": False}, wire.EVAL_ACC),
        ({"error": True}, "error reply"),
    ],
)
def test_bad_evaluation_reply_gets_a_reason_naming_the_key(kwargs, needle):
    assert needle in check_eval_reply(_eval_reply(**kwargs))


def test_good_evaluation_reply_passes():
    assert check_eval_reply(_eval_reply()) is None
