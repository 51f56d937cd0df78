"""The console filter on Ray's forwarded logs drops only the benign shutdown line."""

from __future__ import annotations

from fedsim.runtime.ray_logs import filtered, keep_line

BENIGN = (
    "Task ClientAppActor.terminate failed. There are 1 retries remaining, so the task will be "
    "retried. Error: The actor is temporarily unavailable: IntentionalSystemExit: Worker exits "
    "with an exit code 0. exit_actor() is called."
)


FLOWER_WARNING = "\x1b[93mWARNING \x1b[0m:   Manually terminating ClientAppActor"


def test_only_the_intentional_exit_of_terminate_is_dropped():
    assert not keep_line(BENIGN)
    assert not keep_line(FLOWER_WARNING)
    for line in (
        "Task ClientAppActor.run failed. There are 1 retries remaining ... OOM",  # a real one
        "Task ClientAppActor.terminate failed: ActorDiedError",  # not the intentional exit
        "Traceback (most recent call last):",
        "IntentionalSystemExit",  # alone, without the task: kept
        "\x1b[93mWARNING \x1b[0m:   Manually terminating ClientAppActor: actor 3 hung",
    ):
        assert keep_line(line), line


def test_filtered_handler_forwards_other_lines_unchanged_and_drops_empty_batches():
    seen = []
    handle = filtered(seen.append)
    mixed = {"pid": "raylet", "is_err": True, "lines": [BENIGN, "real warning", BENIGN]}
    handle(mixed)
    assert seen == [{"pid": "raylet", "is_err": True, "lines": ["real warning"]}]
    handle({"pid": "raylet", "is_err": True, "lines": [BENIGN, BENIGN]})
    assert len(seen) == 1  # nothing left: nothing forwarded
    untouched = {"pid": 7, "is_err": False, "lines": ["a print"]}
    handle(untouched)
    assert seen[-1] is untouched
    odd = {"pid": 7, "is_err": False}  # no lines key: passed through as is
    handle(odd)
    assert seen[-1] is odd
