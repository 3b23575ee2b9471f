"""The order of the training images (simclr/data/sampling.py): a function of (seed, epoch, rank)."""

from __future__ import annotations

from simclr.data.sampling import EpochSampler


def test_the_epoch_order_is_a_function_of_seed_epoch_and_rank() -> None:
    one = EpochSampler(10, batch_size=2, seed=3)
    one.set_epoch(4)
    order = list(one)
    assert sorted(order) == list(range(10)) and list(one) == order  # a permutation, repeatable
    one.set_epoch(5)
    assert list(one) != order
    one.set_epoch(4)
    one.skip_batches = 2
    assert list(one) == order[4:] and list(one) == order  # the skip applies once
    ranks = [EpochSampler(10, 2, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(4)
    shares = [list(sampler) for sampler in ranks]
    assert shares == [order[0::2], order[1::2]] and len(ranks[0]) == 5


def test_processes_get_equal_disjoint_shares_of_one_permutation() -> None:
    samplers = [EpochSampler(11, batch_size=2, seed=0, rank=r, world_size=3) for r in range(3)]
    shares = [list(sampler) for sampler in samplers]
    assert [len(share) for share in shares] == [3, 3, 3] == [len(s) for s in samplers]
    seen = [index for share in shares for index in share]
    assert len(set(seen)) == 9 and set(seen) <= set(range(11))  # 2 left out this epoch, no repeats
    assert list(EpochSampler(11, 2, seed=1, rank=0, world_size=3)) != shares[0]
