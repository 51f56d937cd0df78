"""Validation of adapter replies: groups, keys, shapes and LoRA ranks, naming the client."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from flwr.app import Message

from fedsim import wire
from fedsim.adapters.bank import split_groups


def _rank_hint(key: str, got: tuple, want: tuple) -> str:
    axis = 0 if ".lora_A." in key else 1 if ".lora_B." in key else None
    if axis is None or len(got) <= axis or len(want) <= axis or got[axis] == want[axis]:
        return ""
    return f" (LoRA rank {got[axis]}, expected strategy.adapter.rank={want[axis]})"


def check_adapter_reply(
    reply: Message, reference: Mapping[str, Mapping[str, np.ndarray]], expected: list[str]
) -> str | None:
    """Return why a reply's adapters are unusable, or None.

    ``reference`` maps group -> expected tensors (keys and shapes); ``expected`` lists the
    groups this client must return. Every message names the client and the offending key.
    """
    metrics = reply.content.metric_records.get(wire.METRICS) or {}
    who = f"client {metrics.get(wire.REPLY_CLIENT_ID, '?')}"
    try:
        groups = split_groups(reply.content[wire.ARRAYS])
    except (KeyError, ValueError) as exc:
        return f"{who}: {exc}"
    return check_adapter_groups(who, groups, reference, expected)


def check_adapter_groups(
    who: str,
    groups: Mapping[str, Mapping[str, np.ndarray]],
    reference: Mapping[str, Mapping[str, np.ndarray]],
    expected: list[str],
) -> str | None:
    """Return why a reply's adapter ``groups`` are unusable (prefixed by ``who``), or None."""
    for g in sorted(set(groups) - set(expected)):
        return f"{who}: unexpected adapter group '{g}' (expected {', '.join(expected) or 'none'})"
    for g in expected:
        if g not in groups:
            return f"{who}: missing adapter group '{g}'"
        want, got = reference[g], groups[g]
        for key in sorted(set(want) | set(got)):
            if key not in got:
                return f"{who}: adapter '{g}/{key}' is missing"
            if key not in want:
                return f"{who}: unexpected adapter '{g}/{key}'"
            gs, ws = tuple(got[key].shape), tuple(want[key].shape)
            if gs != ws:
                return f"{who}: adapter '{g}/{key}' has shape {gs}, expected {ws}" + _rank_hint(
                    key, gs, ws
                )
    return None
