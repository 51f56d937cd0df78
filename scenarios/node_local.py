"""Task streams for data the server never sees: the clients hold their own examples.

On the deployment engine with node-local data (docs/deployment.md, "Node-local data") every
SuperNode loads its own examples and may describe its own task order. The plan is then a
function of the *task layout* (class splits), the clients' task orders and the pacing - not of
a shared data set. The same function builds the server's plan (labels: the server-side test
set, if any; no train labels) and each node's plan (labels: the node's own examples): the
rounds at which each client meets each task agree, and on a node every slot's training
indices point into that node's own examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot


def _task_layout(tasks: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    layout = [tuple(sorted(int(c) for c in classes)) for classes in tasks]
    if not layout or any(not t for t in layout):
        raise ValueError(f"tasks must be a non-empty list of non-empty class lists, got {tasks}")
    seen: set[int] = set()
    for classes in layout:
        if seen & set(classes):
            raise ValueError(f"tasks must not share classes, got {tasks}")
        seen |= set(classes)
    return layout


def _order_of(cid: int, orders: Mapping, num_tasks: int) -> list[int]:
    order = orders.get(str(cid), orders.get(cid))
    if order is None:
        return list(range(num_tasks))
    order = [int(t) for t in order]
    if not order or any(not 0 <= t < num_tasks for t in order) or len(set(order)) != len(order):
        raise ValueError(
            f"orders[{cid}] must list distinct task ids in 0..{num_tasks - 1}, got {order}"
        )
    return order


def node_local(
    *,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    tasks: Sequence[Sequence[int]],
    num_clients: int,
    rounds_per_task: int = 2,
    orders: Mapping | None = None,
    num_classes: int | None = None,
    name: str = "node_local",
) -> ScenarioPlan:
    """Class-incremental streams over a fixed task layout; indices from whatever labels are here.

    Parameters
    ----------
    train_labels, test_labels : numpy.ndarray
        Labels of the examples *on this machine*: a node's own examples, or the server's test
        set (the server has no train labels: its slots get empty training indices).
    seed : int
        Run seed (the plan does not draw anything; kept for the scenario interface).
    tasks : sequence of class lists
        The global task layout, task ``k`` = ``tasks[k]``; tasks share no class.
    num_clients : int
        Clients ``0..num_clients-1`` (one SuperNode each).
    rounds_per_task : int
        Rounds a client trains each task; client ``c``'s ``p``-th task runs in rounds
        ``1 + p*rounds_per_task .. (p+1)*rounds_per_task``.
    orders : mapping, optional
        Client id (int or str) -> its task ids in the order it meets them (a subset allowed);
        clients not listed meet every task in layout order. The deployment ServerApp fills it
        from the stream each SuperNode reports (``--node-config stream=PATH``).
    num_classes : int, optional
        Size of the label space (default: largest class in ``tasks`` + 1).
    name : str
        The scenario's name (``scenario.name``: run directories, summaries).

    Returns
    -------
    ScenarioPlan
        ``kind="node_local"``; every client's slot for task ``k`` trains on all local train
        examples whose label is in ``tasks[k]``.
    """
    del seed
    layout = _task_layout(tasks)
    if int(num_clients) < 1:
        raise ValueError(f"num_clients must be >= 1, got {num_clients}")
    if int(rounds_per_task) < 1:
        raise ValueError(f"rounds_per_task must be >= 1, got {rounds_per_task}")
    top = max(max(t) for t in layout) + 1
    if num_classes is not None and int(num_classes) < top:
        raise ValueError(f"num_classes={num_classes} is smaller than the tasks' classes need")
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    pools = [np.flatnonzero(np.isin(train_labels, t)).astype(np.int64) for t in layout]
    task_defs = tuple(
        Task(
            task_id=k,
            classes=classes,
            test_idx=np.flatnonzero(np.isin(test_labels, classes)).astype(np.int64),
            name=f"classes {','.join(map(str, classes))}",
        )
        for k, classes in enumerate(layout)
    )
    rpt = int(rounds_per_task)
    streams = []
    for cid in range(int(num_clients)):
        order = _order_of(cid, orders or {}, len(layout))
        slots = tuple(
            TaskSlot(t, start_round=1 + p * rpt, end_round=(p + 1) * rpt, train_idx=pools[t])
            for p, t in enumerate(order)
        )
        streams.append(ClientStream(client_id=cid, slots=slots))
    return ScenarioPlan(
        kind="node_local",
        tasks=task_defs,
        streams=tuple(streams),
        num_rounds=max(s.slots[-1].end_round for s in streams),
        num_classes=int(num_classes) if num_classes is not None else top,
        info={"tasks": [list(t) for t in layout], "rounds_per_task": rpt},
    )
