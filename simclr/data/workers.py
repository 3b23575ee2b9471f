"""How many DataLoader worker processes a split's loader gets."""

from __future__ import annotations

import os

from torch.utils.data import Dataset

from simclr.data.images import ArrayImages


def loader_workers(requested: int | None, dataset: Dataset) -> int:
    """``requested``, or for None (auto) none for images held in memory, whose batch is one
    gather in the main process (workers would only compete with the training step for the
    CPU), and one per available core, up to 8, for images decoded from files."""
    if requested is not None:
        return requested
    if isinstance(dataset, ArrayImages):
        return 0
    return min(8, len(os.sched_getaffinity(0)))
