"""Split a pool of indices among clients with flwr-datasets partitioners (offline, in memory).

flwr-datasets partitioners work on a ``datasets.Dataset``; we build one with two columns
(``idx``, ``label``) so partitions come back as *indices*, never as copies of data.
"""

from __future__ import annotations

import numpy as np


def split_pool(
    pool_idx: np.ndarray,
    labels: np.ndarray,
    num_parts: int,
    *,
    rng: np.random.Generator,
    method: str = "iid",
    alpha: float = 0.5,
    min_size: int = 0,
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
        ``"iid"`` (IidPartitioner after a seeded shuffle; disjoint and covering) or
        ``"dirichlet"`` (DirichletPartitioner with concentration ``alpha``; label skew).
    alpha : float
        Dirichlet concentration, used when ``method == "dirichlet"``.
    min_size : int
        Minimum partition size for the Dirichlet partitioner.

    Returns
    -------
    list[numpy.ndarray]
        One sorted index array per partition.
    """
    from datasets import Dataset
    from flwr_datasets.partitioner import DirichletPartitioner, IidPartitioner

    if num_parts < 1:
        raise ValueError(f"num_parts must be >= 1, got {num_parts}")
    pool = np.asarray(pool_idx, dtype=np.int64)
    if len(pool) < num_parts:
        raise ValueError(
            f"cannot split {len(pool)} examples among {num_parts} clients; "
            "use fewer clients or fewer tasks per client"
        )
    pool = pool[rng.permutation(len(pool))]
    ds = Dataset.from_dict({"idx": pool, "label": np.asarray(labels)[pool]})
    if method == "iid":
        part = IidPartitioner(num_partitions=num_parts)
    elif method == "dirichlet":
        part = DirichletPartitioner(
            num_partitions=num_parts,
            partition_by="label",
            alpha=float(alpha),
            min_partition_size=min_size,
            self_balancing=False,
            shuffle=True,
            seed=int(rng.integers(0, 2**31 - 1)),
        )
    else:
        raise ValueError(f"partition method '{method}' unknown; allowed: iid, dirichlet")
    part.dataset = ds
    return [
        np.sort(np.asarray(part.load_partition(i)["idx"], dtype=np.int64)) for i in range(num_parts)
    ]
