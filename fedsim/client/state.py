"""What a client learner keeps between rounds and what it returns.

The learner interface itself is :class:`fedsim.interfaces.ClientLearner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord

from fedsim import wire


@dataclass
class ClientState:
    """State of one (virtual) client, kept by the server's store or by its node.

    ``config`` holds scalars (task pointer, local LR state, counters); ``arrays`` holds
    tensors (personal adapters, local prototypes) as an ArrayRecord; the FCL baselines keep
    theirs there under ``/``-prefixed names beside the model's (teacher, Fisher, anchor: see
    :mod:`fedsim.client.plugins.baselines`). ``shared`` holds the
    extra ArrayRecords the server attached to this round's message (e.g. an LR controller's
    ``fedsim.lr-arrays``); it is not persisted.
    """

    config: dict[str, Any] = field(default_factory=dict)
    arrays: ArrayRecord | None = None
    shared: dict[str, ArrayRecord] = field(default_factory=dict)  # this message's extra records

    def to_records(self) -> tuple[ConfigRecord, ArrayRecord]:
        """Return the state as Flower records."""
        return ConfigRecord(dict(self.config)), self.arrays or ArrayRecord()

    @classmethod
    def from_records(cls, config: ConfigRecord | None, arrays: ArrayRecord | None) -> ClientState:
        """Rebuild the state from Flower records (missing ones give an empty state)."""
        arr = arrays if arrays is not None and len(arrays) > 0 else None
        return cls(config=dict(config or {}), arrays=arr)


@dataclass
class TrainReply:
    """What a learner returns from training: payload, scalar metrics and new state.

    ``extra`` holds further ArrayRecords for the reply, by record name (FOT's representation
    factors, ``fcl.fot-representation``, in the round after a task end).
    """

    arrays: ArrayRecord
    metrics: dict[str, float | int]
    state: ClientState
    extra: dict[str, ArrayRecord] = field(default_factory=dict)


@dataclass
class EvalReply:
    """What a learner returns from evaluation.

    ``positions[k]`` / ``accuracies[k]`` / ``task_ids[k]``: the stream position, accuracy and
    global task id of evaluated entry ``k`` (several entries may share the next position when
    its task is not decided yet: every candidate is scored). ``order`` lists the task ids of
    the positions whose task is fixed (all of them for a static order; the decided prefix
    under the run-time task curriculum), so the server places each accuracy under the task the
    client really met in that position.
    """

    metrics: dict[str, float | int]
    positions: list[int]
    accuracies: list[float]
    task_ids: list[int] = field(default_factory=list)
    order: list[int] = field(default_factory=list)




def train_metrics(
    client_id: int, task_id: int, loss: float, num_examples: int, final_lr: float
) -> dict[str, float | int]:
    """The metrics every train reply carries (method-specific ones are added after them)."""
    return {
        wire.TRAIN_LOSS: float(loss),
        wire.NUM_EXAMPLES: int(num_examples),
        wire.REPLY_CLIENT_ID: int(client_id),
        wire.TASK_ID: int(task_id),
        wire.FINAL_LR: float(final_lr),
    }


def trained_state(
    state: ClientState,
    loop_items: dict[str, Any],
    arrays: ArrayRecord | None,
    **items: Any,
) -> ClientState:
    """The client's state after a training round: one more round, the loop's plugin items.

    ``items`` are the learner's own state items; ``arrays`` its new state arrays.
    """
    rounds = int(state.config.get(wire.ROUNDS_TRAINED, 0)) + 1
    config = {**state.config, **items, wire.ROUNDS_TRAINED: rounds, **loop_items}
    return ClientState(config=config, arrays=arrays)
