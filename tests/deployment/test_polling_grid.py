"""PollingGrid: Flower's send_and_receive semantics with a short pull interval."""

from __future__ import annotations

import pytest

from fedsim.deployment.polling_grid import PollingGrid


class Reply:
    def __init__(self, mid: str) -> None:
        self.metadata = type("M", (), {"reply_to_message_id": mid})()


class SlowGrid:
    """Reply ``mid`` becomes available at the ``ready[mid]``-th pull (never if absent)."""

    def __init__(self, ready: dict[str, int]) -> None:
        self.ready = ready
        self.pulls = 0
        self.asked: list[set[str]] = []

    def push_messages(self, messages):
        return list(messages)

    def pull_messages(self, ids):
        self.pulls += 1
        self.asked.append(set(ids))
        return [Reply(m) for m in sorted(ids) if self.ready.get(m, 10**9) <= self.pulls]


def test_all_replies_arrive_after_a_few_short_pulls():
    inner = SlowGrid({"a": 1, "b": 4})
    replies = PollingGrid(inner, poll_min_s=0.01, poll_max_s=0.02).send_and_receive(["a", "b"])
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["a", "b"]
    assert inner.pulls == 4 and inner.asked[1:] == [{"b"}, {"b"}, {"b"}]  # answered: not re-asked


def test_timeout_returns_what_came():
    inner = SlowGrid({"a": 1})
    replies = PollingGrid(inner, poll_min_s=0.01, poll_max_s=0.02).send_and_receive(
        ["a", "never"], timeout=0.1
    )
    assert [r.metadata.reply_to_message_id for r in replies] == ["a"]
    assert inner.pulls >= 2


def test_bad_intervals_are_refused():
    with pytest.raises(ValueError, match="poll_min_s"):
        PollingGrid(SlowGrid({}), poll_min_s=0.5, poll_max_s=0.1)
