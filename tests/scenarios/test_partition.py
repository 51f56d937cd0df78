import numpy as np
import pytest
from datasets import Dataset
from flwr_datasets.partitioner import IidPartitioner, LinearPartitioner

from scenarios.partition import split_pool


@pytest.mark.parametrize("n, parts", [(100, 7), (13, 13), (1000, 3)])
def test_iid_equals_flwr_iid_partitioner(n, parts):
    labels = np.arange(n) % 5
    pool = np.arange(n) * 3
    ours = split_pool(pool, np.repeat(labels, 3), parts, rng=np.random.default_rng(5))
    shuffled = pool[np.random.default_rng(5).permutation(n)]
    ref = IidPartitioner(num_partitions=parts)
    ref.dataset = Dataset.from_dict({"idx": shuffled})
    for i in range(parts):
        assert ours[i].tolist() == sorted(ref.load_partition(i)["idx"])


def test_iid_parts_are_views_of_one_buffer():
    parts = split_pool(np.arange(10_000), np.zeros(10_000, int), 100,
                       rng=np.random.default_rng(0))
    assert parts[0].base is not None and all(p.base is parts[0].base for p in parts[1:])
    assert all(np.all(np.diff(p) > 0) for p in parts)


def test_quantity_skew_matches_flwr_sizes():
    parts = split_pool(np.arange(600), np.zeros(600, int), 4, rng=np.random.default_rng(0),
                       method="linear")
    ref = LinearPartitioner(num_partitions=4)
    ref.dataset = Dataset.from_dict({"idx": np.arange(600)})
    assert [len(p) for p in parts] == [len(ref.load_partition(i)) for i in range(4)]
    assert len(np.unique(np.concatenate(parts))) == 600


def test_too_many_parts_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot split 3 examples among 4 clients"):
        split_pool(np.arange(3), np.zeros(3, int), 4, rng=np.random.default_rng(0))
