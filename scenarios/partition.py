"""Split a pool of indices among clients with flwr-datasets partitioners (offline, in memory).

flwr-datasets partitioners work on a ``datasets.Dataset``; we build one with two columns
(``idx``, ``label``) so partitions come back as *indices*, never as copies of data. The
partitioners' row assignment is read directly (``partition_id_to_indices``) instead of
materialising one ``Dataset`` per partition, which keeps 100,000-way splits fast.

``"iid"`` is flwr-datasets' ``IidPartitioner`` semantics (contiguous, equal shards of a
seeded shuffle; ``Dataset.shard(contiguous=True)``) computed with ``numpy.array_split``, whose
shards are views of one shuffled array (``tests/scenarios/test_partition.py`` checks that the
two agree exactly).
"""

from __future__ import annotations

import numpy as np

METHODS = ("iid", "dirichlet", "pathological", "shard", "linear", "square", "exponential")


def check_partition(
    method: str, alpha: float, labels_per_client: int, shards_per_client: int
) -> None:
    """Raise ValueError for an unknown method or out-of-range partitioner parameter."""
    if method not in METHODS:
        raise ValueError(f"partition must be one of {', '.join(METHODS)}; got '{method}'")
    if method == "dirichlet" and not float(alpha) > 0:
        raise ValueError(f"alpha must be > 0 for partition=dirichlet, got {alpha}")
    if method == "pathological" and int(labels_per_client) < 1:
        raise ValueError(f"labels_per_client must be >= 1, got {labels_per_client}")
    if method == "shard" and int(shards_per_client) < 1:
        raise ValueError(f"shards_per_client must be >= 1, got {shards_per_client}")


def split_pool(
    pool_idx: np.ndarray,
    labels: np.ndarray,
    num_parts: int,
    *,
    rng: np.random.Generator,
    method: str = "iid",
    alpha: float = 0.5,
    min_size: int = 0,
    labels_per_client: int = 2,
    shards_per_client: int = 2,
) -> list[np.ndarray]:
    """Split ``pool_idx`` into ``num_parts`` disjoint index arrays.

    Parameters
    ----------
    pool_idx : numpy.ndarray
        Indices into the data source's train split.
    labels : numpy.ndarray
        Labels of the whole train split (indexed by ``pool_idx``).
    num_parts : int
        Number of partitions (clients sharing the pool).
    rng : numpy.random.Generator
        Local generator (never a global RNG).
    method : str
        ``"iid"`` (equal shards; disjoint and covering), ``"dirichlet"`` (label skew,
        ``DirichletPartitioner``), ``"pathological"`` (``labels_per_client`` labels each,
        ``PathologicalPartitioner``), ``"shard"`` (``ShardPartitioner``), or quantity skew
        with ``"linear"``, ``"square"``, ``"exponential"`` (``LinearPartitioner`` ... : partition
        ``i`` gets a share growing with ``i``).
    alpha : float
        Dirichlet concentration, used when ``method == "dirichlet"``.
    min_size : int
        Minimum partition size for the Dirichlet partitioner.
    labels_per_client, shards_per_client : int
        Parameters of the pathological and shard partitioners.

    Returns
    -------
    list[numpy.ndarray]
        One sorted index array per partition (for iid: views of one shared array).
    """
    check_partition(method, alpha, labels_per_client, shards_per_client)
    if num_parts < 1:
        raise ValueError(f"num_parts must be >= 1, got {num_parts}")
    pool = np.asarray(pool_idx, dtype=np.int64)
    if len(pool) < num_parts:
        raise ValueError(
            f"cannot split {len(pool)} examples among {num_parts} clients; "
            "use fewer clients or fewer tasks per client"
        )
    pool = pool[rng.permutation(len(pool))]
    if method == "iid":
        # IidPartitioner's contiguous shards (Dataset.shard(contiguous=True) sizes), each sorted,
        # returned as views of one array: no per-client copies, no per-client sort calls.
        size, extra = divmod(len(pool), num_parts)
        bounds = np.concatenate([[0], np.cumsum(size + (np.arange(num_parts) < extra))]).tolist()
        shard = np.repeat(np.arange(num_parts), np.diff(bounds))
        pool = pool[np.lexsort((pool, shard))]
        return [pool[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return _flwr_split(pool, np.asarray(labels)[pool], num_parts, rng, method, alpha, min_size,
                       labels_per_client, shards_per_client)


def _flwr_split(
    pool: np.ndarray,
    pool_labels: np.ndarray,
    num_parts: int,
    rng: np.random.Generator,
    method: str,
    alpha: float,
    min_size: int,
    labels_per_client: int,
    shards_per_client: int,
) -> list[np.ndarray]:
    from datasets import Dataset
    from flwr_datasets import partitioner as fp

    seed = int(rng.integers(0, 2**31 - 1))
    if method == "dirichlet":
        part = fp.DirichletPartitioner(
            num_partitions=num_parts,
            partition_by="label",
            alpha=float(alpha),
            min_partition_size=0,  # empty parts are refilled below (no retry failures)
            self_balancing=False,
            shuffle=True,
            seed=seed,
        )
    elif method == "pathological":
        part = fp.PathologicalPartitioner(
            num_partitions=num_parts,
            partition_by="label",
            num_classes_per_partition=int(labels_per_client),
            class_assignment_mode="first-deterministic",
            shuffle=True,
            seed=seed,
        )
    elif method == "shard":
        part = fp.ShardPartitioner(
            num_partitions=num_parts,
            partition_by="label",
            num_shards_per_partition=int(shards_per_client),
            shuffle=True,
            seed=seed,
        )
    else:
        if method == "exponential" and num_parts > 700:
            raise ValueError("partition=exponential overflows beyond 700 clients per task")
        cls = {"linear": fp.LinearPartitioner, "square": fp.SquarePartitioner,
               "exponential": fp.ExponentialPartitioner}[method]
        part = cls(num_partitions=num_parts)
    part.dataset = Dataset.from_dict({"idx": pool, "label": pool_labels})
    try:
        parts = _assigned(part, num_parts)
    except ValueError as exc:
        raise ValueError(f"partition={method}: {exc}") from None
    return _refill_empty(parts, min_size) if min_size > 0 else parts


def _assigned(part, num_parts: int) -> list[np.ndarray]:
    """Pool indices of every partition, read from the partitioner's row assignment."""
    part.load_partition(0)  # triggers the (seeded) assignment; may sort part.dataset (shard)
    table = part._partition_id_to_indices  # noqa: SLF001 - no public accessor for all in 0.6
    column = np.asarray(part.dataset["idx"], dtype=np.int64)  # rows of the dataset it used
    return [np.sort(column[np.asarray(table.get(i, []), dtype=np.int64)])
            for i in range(num_parts)]


def _refill_empty(parts: list[np.ndarray], min_size: int) -> list[np.ndarray]:
    """Move examples from the largest partitions into those below ``min_size``.

    Label-skew partitioners can leave a client without data; a client slot must not be empty.
    """
    parts = list(parts)
    for i in range(len(parts)):
        while len(parts[i]) < min_size:
            donor = int(np.argmax([len(p) for p in parts]))
            if len(parts[donor]) <= min_size:
                raise ValueError(f"cannot give every client {min_size} examples")
            parts[i] = np.sort(np.append(parts[i], parts[donor][-1]))
            parts[donor] = parts[donor][:-1]
    return parts
