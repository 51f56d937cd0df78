"""Per-client heterogeneity shared by every stream kind: who meets which task, when, with what data.

Every generator (class-, domain-, task-incremental) defines global tasks and one training pool
per task, then hands the pools to :func:`build_streams` with the knobs of :class:`StreamKnobs`.
The knobs combine freely:

* task order per client (``order``) drawn from a shared pool of ``num_tasks`` tasks, of which
  each client meets ``tasks_per_client`` (controls overlap between clients: every client
  holds ``k`` of ``T`` tasks, dealt from shuffled decks so that every task has a client);
* asynchronous arrival (``max_arrival_delay``), per-client task durations
  (``rounds_per_task + U{0..duration_jitter}``) and absences between tasks (``max_gap``:
  the client leaves and re-joins); ``leave_fraction`` of the clients leave for good after a
  random number of tasks;
* how each task pool is split among the clients that hold it (``partition``: iid, label skew
  with Dirichlet / pathological / shard, quantity skew with linear / square / exponential;
  flwr-datasets partitioners, see :mod:`scenarios.partition`; under quantity skew a client
  keeps its size rank across tasks);
* blurry boundaries (``blurry``: that share of every slot's examples reappears in the
  client's later slots, spread evenly), after Koh et al., "Online continual learning on
  class incremental blurry task configuration with anytime inference", ICLR 2022;
* recurring tasks (``recur_prob``): after each new task, with that probability an earlier
  task of the client recurs as a new slot (same examples), chosen with probability
  proportional to ``(slots since last seen) ** -recur_power`` (a power law; 0: uniform).

The only thing written by hand here is the scheduling; splitting uses flwr-datasets.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from scenarios.partition import check_partition, split_pool
from scenarios.types import ClientStream, TaskSlot


@dataclass(frozen=True)
class StreamKnobs:
    """Per-client heterogeneity knobs (validated on construction, before any work)."""

    num_clients: int = 20
    rounds_per_task: int = 3
    max_arrival_delay: int = 2
    order: str = "per_client"
    tasks_per_client: int | None = None
    duration_jitter: int = 0
    max_gap: int = 0
    leave_fraction: float = 0.0
    recur_prob: float = 0.0
    recur_power: float = 1.0
    blurry: float = 0.0
    partition: str = "iid"
    alpha: float = 0.5
    labels_per_client: int = 2
    shards_per_client: int = 2
    task_agnostic: bool = False

    def __post_init__(self) -> None:
        for name, low in (("num_clients", 1), ("rounds_per_task", 1), ("max_arrival_delay", 0),
                          ("duration_jitter", 0), ("max_gap", 0)):
            if int(getattr(self, name)) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if self.order not in ("per_client", "shared"):
            raise ValueError(f"order must be one of per_client, shared; got '{self.order}'")
        if self.tasks_per_client is not None and int(self.tasks_per_client) < 1:
            raise ValueError(f"tasks_per_client must be >= 1 or null, got {self.tasks_per_client}")
        for name in ("leave_fraction", "recur_prob"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= float(self.blurry) < 1.0:
            raise ValueError(f"blurry must be in [0, 1), got {self.blurry}")
        if float(self.recur_power) < 0:
            raise ValueError(f"recur_power must be >= 0, got {self.recur_power}")
        check_partition(self.partition, self.alpha, self.labels_per_client, self.shards_per_client)

    def tasks_each(self, num_tasks: int) -> int:
        """Tasks per client ``k`` for ``num_tasks`` tasks; raise when the combination is invalid."""
        k = num_tasks if self.tasks_per_client is None else int(self.tasks_per_client)
        if k > num_tasks:
            raise ValueError(f"tasks_per_client = {k} exceeds num_tasks = {num_tasks}")
        if self.num_clients * k < num_tasks:
            raise ValueError(
                f"num_clients * tasks_per_client = {self.num_clients * k} < num_tasks = "
                f"{num_tasks}: some tasks would have no client"
            )
        return k

    def info(self) -> dict:
        """The knobs as a plain dict (for ``ScenarioPlan.info``)."""
        return asdict(self)


def _deal(rng: np.random.Generator, num_clients: int, num_tasks: int, k: int) -> list[list[int]]:
    """Give each client ``k`` distinct tasks from consecutive shuffled decks (balanced load)."""
    deck: list[int] = []
    out = []
    for _ in range(num_clients):
        hand: list[int] = []
        skipped: list[int] = []
        while len(hand) < k:
            if not deck:
                deck = rng.permutation(num_tasks).tolist()[::-1]
            t = deck.pop()
            (skipped if t in hand else hand).append(t)
        deck.extend(reversed(skipped))
        out.append(hand)
    return out


def _orders(knobs: StreamKnobs, rng: np.random.Generator, num_tasks: int, k: int) -> list:
    n = knobs.num_clients
    if k == num_tasks:
        if knobs.order == "shared":
            return [list(range(num_tasks))] * n
        return rng.permuted(np.tile(np.arange(num_tasks), (n, 1)), axis=1).tolist()
    hands = _deal(rng, n, num_tasks, k)
    if knobs.order == "shared":
        return [sorted(h) for h in hands]
    return [rng.permutation(h).tolist() for h in hands]


def _blur(parts: list[np.ndarray], share: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Move ``share`` of each slot's examples into the later slots, spread evenly."""
    kept = [p for p in parts]
    extra: list[list[np.ndarray]] = [[] for _ in parts]
    for p in range(len(parts) - 1):
        arr = rng.permutation(parts[p])
        m = int(round(share * len(arr)))
        kept[p] = np.sort(arr[m:])
        for q, chunk in enumerate(np.array_split(arr[:m], len(parts) - 1 - p), start=p + 1):
            extra[q].append(chunk)
    return [np.sort(np.concatenate([kept[q], *extra[q]])) for q in range(len(parts))]


def _with_recurrences(
    order: list[int], u: np.ndarray, knobs: StreamKnobs, rng: np.random.Generator
) -> list[int]:
    seq: list[int] = []
    last: dict[int, int] = {}
    for p, t in enumerate(order):
        seq.append(t)
        last[t] = len(seq) - 1
        if p == 0 or u[p] >= knobs.recur_prob:
            continue
        cands = [c for c in last if c != t]
        age = np.array([len(seq) - last[c] for c in cands], dtype=float)
        w = age ** (-float(knobs.recur_power))
        pick = cands[int(rng.choice(len(cands), p=w / w.sum()))]
        seq.append(pick)
        last[pick] = len(seq) - 1
    return seq


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building millions of acyclic objects (halves 100k-client plans)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_streams(
    knobs: StreamKnobs,
    *,
    pools: Sequence[np.ndarray],
    labels: np.ndarray,
    rng: np.random.Generator,
) -> tuple[tuple[ClientStream, ...], int]:
    """Turn one training pool per task into one stream per client.

    Parameters
    ----------
    knobs : StreamKnobs
        Heterogeneity knobs.
    pools : Sequence[numpy.ndarray]
        Training indices of each global task (``pools[t]`` for task ``t``).
    labels : numpy.ndarray
        Train labels (used by label-skew partitioners).
    rng : numpy.random.Generator
        The generator's local RNG.

    Returns
    -------
    tuple
        ``(streams, num_rounds)``. Without ``leave_fraction``, every pool is split
        disjointly among the clients holding its task and covered entirely.
    """
    with _gc_paused():
        return _build(knobs, pools, labels, rng)


def _build(
    knobs: StreamKnobs, pools: Sequence[np.ndarray], labels: np.ndarray, rng: np.random.Generator
) -> tuple[tuple[ClientStream, ...], int]:
    num_tasks = len(pools)
    k = knobs.tasks_each(num_tasks)
    n = knobs.num_clients
    orders = _orders(knobs, rng, num_tasks, k)
    size_rank = rng.permutation(n)  # under quantity skew, client c gets the size_rank[c]-th share
    holders: list[list[int]] = [[] for _ in range(num_tasks)]
    for cid, order in enumerate(orders):
        for t in order:
            holders[t].append(cid)
    parts: list[list[np.ndarray]] = []
    rank_of: list[list[int]] = []  # rank_of[t][cid]: which of task t's partitions client cid gets
    for t in range(num_tasks):
        who = np.asarray(holders[t], dtype=np.int64)
        who = who[np.argsort(size_rank[who], kind="stable")]
        parts.append(split_pool(pools[t], labels, len(who), rng=rng, method=knobs.partition,
                                alpha=knobs.alpha, min_size=1,
                                labels_per_client=knobs.labels_per_client,
                                shards_per_client=knobs.shards_per_client))
        where = np.full(n, -1, dtype=np.int64)
        where[who] = np.arange(len(who))
        rank_of.append(where.tolist())
    width = 2 * k
    arrival = rng.integers(0, knobs.max_arrival_delay + 1, size=n).tolist()
    duration = (knobs.rounds_per_task
                + rng.integers(0, knobs.duration_jitter + 1, size=(n, width))).tolist()
    gap = rng.integers(0, knobs.max_gap + 1, size=(n, width)).tolist()
    recur_u = rng.random((n, k))
    leaves = (rng.random(n) < knobs.leave_fraction).tolist()
    streams = []
    last_round = 0
    for cid, order in enumerate(orders):
        data = [parts[t][rank_of[t][cid]] for t in order]
        if knobs.blurry > 0 and len(data) > 1:
            data = _blur(data, knobs.blurry, rng)
        by_task = dict(zip(order, data, strict=True))
        seq = order
        if knobs.recur_prob > 0:
            seq = _with_recurrences(order, recur_u[cid], knobs, rng)
        if leaves[cid] and len(seq) > 1:
            seq = seq[: int(rng.integers(1, len(seq)))]
        start = 1 + arrival[cid]
        dur, pause = duration[cid], gap[cid]
        slots = []
        for pos, t in enumerate(seq):
            end = start + dur[pos] - 1
            slots.append(TaskSlot(t, start, end, by_task[t]))
            start = end + 1 + pause[pos]
        last_round = max(last_round, slots[-1].end_round)
        streams.append(ClientStream(cid, tuple(slots)))
    return tuple(streams), last_round
