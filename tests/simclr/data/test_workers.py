"""How many DataLoader workers a split's loader gets (simclr/data/workers.py)."""

from __future__ import annotations

import os

from simclr.data.images import PreparedImages
from simclr.data.splits import load_split
from simclr.data.workers import loader_workers


def test_auto_workers_none_in_memory_and_one_per_core_for_files(
    cifar10_root, tmp_path, data_config, mixed_images
) -> None:
    root, _, _ = cifar10_root
    in_memory = load_split(data_config(root, "cifar10"), "test")
    mixed_images.write(tmp_path / "images")
    files = load_split(data_config(tmp_path, "folder", path=str(tmp_path / "images")), "all")
    assert isinstance(files, PreparedImages)
    cores = len(os.sched_getaffinity(0))
    assert loader_workers(None, in_memory) == 0
    assert loader_workers(None, files) == min(8, cores) >= 1
    assert loader_workers(3, in_memory) == loader_workers(3, files) == 3
