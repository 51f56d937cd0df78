"""Train messages routed by each client's active task (per-task adapter strategies).

The adapter bank and PILoRA send every client a payload chosen by the task it is on in this
round (its entry of the bank, plus what the method shares); only the payload differs, so the
routing and the message building live here once.
"""

from __future__ import annotations

from collections.abc import Callable

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from fedsim import wire
from fedsim.experiment import Experiment


def active_task(exp: Experiment | None, client_id: int, server_round: int, who: str) -> int:
    """The task id ``client_id`` is on in ``server_round`` (its plan's active slot).

    Raises
    ------
    RuntimeError
        ``exp`` is None: ``who``'s ``initial_arrays(exp)`` was not called.
    """
    if exp is None:
        raise RuntimeError(f"{who}.initial_arrays(exp) must be called before training")
    return exp.plan.streams[client_id].active_slot(server_round).task_id


def task_routed_messages(
    exp: Experiment | None,
    grid: Grid,
    server_round: int,
    config: ConfigRecord,
    payload_for: Callable[[int], ArrayRecord],
    who: str,
) -> list[Message]:
    """One train message per cohort client: ``payload_for(its active task)`` and ``config``."""
    messages = []
    for cid in grid.get_node_ids():
        payload = payload_for(active_task(exp, int(cid), server_round, who))
        content = RecordDict({wire.ARRAYS: payload, wire.CONFIG: ConfigRecord(dict(config))})
        messages.append(Message(content=content, message_type=MessageType.TRAIN, dst_node_id=cid))
    return messages
