"""The order of the training images: a function of (seed, epoch, rank), so a run can resume.

Each epoch visits a permutation of the training images drawn from its own generator seeded by
``seed`` and the epoch (not from torch's global random state, which the views draw from), cut
to a whole number of images per process and dealt to the processes like torch's
``DistributedSampler`` (process r takes every W-th image from r). A resumed run starts its
epoch ``skip_batches`` batches in, so it sees exactly the images the interrupted run had left.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """This process's share of epoch ``epoch``'s permutation of ``size`` images."""

    def __init__(
        self, size: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.skip_batches = 0  # of the next epoch iterated: batches a resumed run has seen

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    @property
    def per_process(self) -> int:
        return self.size // self.world_size

    def __len__(self) -> int:
        return self.per_process

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator)[: self.per_process * self.world_size]
        mine = order[self.rank :: self.world_size].tolist()
        start, self.skip_batches = self.skip_batches * self.batch_size, 0
        return iter(mine[start:])
