"""Every dataset by name: one :class:`DatasetSpec` entry of :data:`DATASETS` each.

A new dataset is one entry: a reader (:mod:`simclr.data.readers`) and what pretraining and
evaluation need to know about it. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torchvision

from simclr.data.folders import WHOLE_FOLDER, FolderSplits, folder_splits
from simclr.data.readers import (
    Reader,
    cifar_reader,
    read_fashion_mnist,
    read_folder,
    read_stl10,
)
from simclr.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DatasetSpec:
    """One registered dataset: how to read a split, and what pretraining uses.

    The defaults describe the common case, a dataset of ``train`` and ``test`` splits: pretrain
    on ``train``, probe from ``train`` to ``test``, and hold the validation split out of
    ``train``; an entry states only where it differs."""

    read: Reader
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    splits: tuple[str, ...] = ("train", "test")
    pretrain_split: str = "train"
    eval_train_split: str | None = "train"  # labelled split that probes and kNN train on
    eval_test_split: str | None = "test"  # labelled split they are measured on
    # splits that depend on the files (an image folder): (path, val_fraction) -> the four
    # fields above for that folder (simclr.data.folders); None: the fixed ones above
    layout: Callable[..., FolderSplits] | None = None
    # the labelled split a validation split ``val`` is held out of (data.val_fraction,
    # simclr.data.held_out), and the splits whose first rows are that split's rows (STL-10's
    # train+unlabeled): every one of them is read without the held-out rows
    held_out_from: str | None = "train"
    held_out_within: tuple[str, ...] = ("train",)
    eval_val_split: str | None = None  # the labelled split that chooses; set by resolved_spec


DATASETS: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec(
        read=read_fashion_mnist,
        channels=1,
        mean=(0.2860,),
        std=(0.3530,),
    ),
    "cifar10": DatasetSpec(
        read=cifar_reader(torchvision.datasets.CIFAR10, "cifar10"),
        channels=3,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    ),
    "cifar100": DatasetSpec(
        read=cifar_reader(torchvision.datasets.CIFAR100, "cifar100"),
        channels=3,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
    ),
    "stl10": DatasetSpec(
        read=read_stl10,
        channels=3,
        mean=(0.4467, 0.4398, 0.4066),
        std=(0.2603, 0.2566, 0.2713),
        splits=("train", "test", "unlabeled", "train+unlabeled"),
        pretrain_split="train+unlabeled",
        held_out_within=("train", "train+unlabeled"),
    ),
    "folder": DatasetSpec(
        read=read_folder,
        channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        splits=(WHOLE_FOLDER,),  # without data.path; resolved_spec gives the folder's own
        pretrain_split=WHOLE_FOLDER,
        eval_train_split=None,
        eval_test_split=None,
        layout=folder_splits,
        held_out_from=None,  # a folder holds its val part out itself (simclr.data.folders)
        held_out_within=(),
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"data.name={name!r} is unknown: allowed: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]
