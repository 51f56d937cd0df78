"""`fedsim deploy supernode` pieces: Flower's SuperNode argv, the capped idle poll."""

from __future__ import annotations

import sys

import pytest

from fedsim.deployment.fast_supernode import CappedClock, split_idle_poll, split_polls
from fedsim.deployment.supernode import runtime_port, supernode_argv


def test_supernode_argv_adds_process_isolation_and_a_runtime_port():
    argv = supernode_argv(["--superlink", "h:9092", "--insecure"], 9555)
    assert argv[:3] == [sys.executable, "-m", "fedsim.deployment.fast_supernode"]
    assert argv[3:] == ["--superlink", "h:9092", "--insecure", "--port", "9555",
                        "--isolation", "process"]  # fmt: skip
    assert runtime_port(argv) == 9555
    own = supernode_argv(["--port", "9100"], 9555)
    assert runtime_port(own) == 9100 and own.count("--port") == 1
    with pytest.raises(ValueError, match="always runs --isolation process"):
        supernode_argv(["--isolation", "subprocess"], 1)
    with pytest.raises(ValueError, match="--port"):
        supernode_argv(["--port", "x"], 1)


def test_idle_poll_is_taken_out_and_caps_sleeps(monkeypatch):
    cap, rest = split_idle_poll(["--superlink", "h:1", "--idle-poll", "0.1", "--insecure"])
    assert cap == 0.1 and rest == ["--superlink", "h:1", "--insecure"]
    assert split_idle_poll([])[0] == 0.25
    slept = []
    monkeypatch.setattr("time.sleep", slept.append)
    clock = CappedClock(0.1)
    clock.sleep(3)  # Flower's idle wait
    clock.sleep(0.05)
    assert slept == [0.1, 0.05]
    assert clock.monotonic is not None  # everything else is the time module's
    with pytest.raises(ValueError, match="idle-poll"):
        CappedClock(0)
    with pytest.raises(ValueError, match="idle-poll must be seconds"):
        split_idle_poll(["--idle-poll", "soon"])


def test_reply_poll_caps_the_short_waits_only(monkeypatch):
    idle, reply, rest = split_polls(["--reply-poll", "0.01", "--idle-poll", "0.2", "--insecure"])
    assert (idle, reply, rest) == (0.2, 0.01, ["--insecure"])
    assert split_polls([])[:2] == (0.25, 0.02)
    slept = []
    monkeypatch.setattr("time.sleep", slept.append)
    clock = CappedClock(0.25, 0.02)
    clock.sleep(3)  # idle: nothing for this node at the SuperLink
    clock.sleep(0.5)  # Flower's wait for the ClientApp's reply in the node's own state
    clock.sleep(0.005)
    assert slept == [0.25, 0.02, 0.005]
    with pytest.raises(ValueError, match="reply-poll must be > 0"):
        CappedClock(0.25, 0)
    with pytest.raises(ValueError, match="--reply-poll needs a number"):
        split_polls(["--reply-poll"])
