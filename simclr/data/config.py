"""The ``data`` section of a config: which images, how many, at what size, in what batches, and
what it resolves to in the dataset table (splits, channels, normalisation).

It sits beside the data package it configures, so that the package reads its own section and
never the schema above it (:mod:`simclr.config.schema` includes it as ``SimCLRConfig.data``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import numpy as np

from simclr.data.held_out import with_val_split
from simclr.data.registry import DATASETS, DatasetSpec, dataset_spec
from simclr.errors import check_choice, check_subset, check_workers, require


@dataclass
class DataConfig:
    name: str = "fashion_mnist"  # a key of simclr.data.DATASETS
    root: str = "data"  # where datasets are read from or downloaded to
    path: str | None = None  # image directory, for name=folder
    image_size: int = 28  # workers resize to image_size x image_size
    channels: int | None = None  # 1 or 3; null keeps the dataset's own
    subset: float | None = None  # fraction in (0, 1] or a count > 1 of training images
    val_subset: float | None = None  # the same for the labelled split used for validation
    # part of each class of the labelled training split held out (seeded, the same rows for
    # every run) as split val, which chooses; train is the rest. null: 0.1 for a registered
    # dataset, none for a folder (its val/ or test/ subfolder, else the one split all); 0: none
    val_fraction: float | None = None
    pretrain_on_val: bool = False  # true: pretraining also reads val's images (never its labels)
    batch_size: int = 256  # per device; the global batch N is this times the number of devices
    num_workers: int | None = None  # null: 0 for in-memory datasets, else 1 per core (<= 8)
    # where pretraining decodes a folder's JPEG files: workers (PIL, in the loader's workers),
    # device (torchvision, on the batch's device; workers read bytes), auto: device on CUDA
    decode: str = "auto"
    download: bool = True  # allow torchvision to download when the files are not found

    def check(self) -> None:
        """The checks that pretraining and evaluation share."""
        check_choice("data.name", self.name, sorted(DATASETS))
        check_choice("data.decode", self.decode, ("auto", "workers", "device"))
        if self.name == "folder":
            require(self.path is not None, "data.path", self.path, "name=folder needs an image dir")
        require(self.image_size >= 8, "data.image_size", self.image_size, "must be >= 8")
        require(
            self.channels in (None, 1, 3), "data.channels", self.channels, "allowed: 1, 3, null"
        )
        check_subset("data.subset", self.subset)
        check_subset("data.val_subset", self.val_subset)
        fraction = self.val_fraction
        if fraction is not None:
            allowed = "must be in [0, 1) or null (0: no val split)"
            require(0 <= fraction < 1, "data.val_fraction", fraction, allowed)
            spec = dataset_spec(self.name)
            held = spec.held_out_from is not None or self.name == "folder"
            require(held or fraction == 0, "data.val_fraction", fraction, "needs labelled images")

    def check_for_pretraining(self) -> None:
        self.check()
        require(
            self.batch_size >= 2, "data.batch_size", self.batch_size, "must be >= 2 (negatives)"
        )
        check_workers("data.num_workers", self.num_workers)


def resolved_spec(data: DataConfig) -> DatasetSpec:
    """The spec of ``data``'s dataset with the splits it has as configured: a registered
    dataset's ``val`` held out by ``data.val_fraction`` (:mod:`simclr.data.held_out`), an image
    folder's from its subfolders or ``data.val_fraction`` (its class sets checked across
    splits)."""
    spec = dataset_spec(data.name)
    if spec.layout is None:
        return with_val_split(spec, data.val_fraction)
    fraction = data.val_fraction or None  # a folder's 0, like null, holds nothing out
    return dataclasses.replace(spec, **asdict(spec.layout(data.path, fraction)))


def resolved_channels(data: DataConfig) -> int:
    """The configured channel count, or the dataset's own."""
    return data.channels or dataset_spec(data.name).channels


def normalization(data: DataConfig, mean=None, std=None) -> tuple[list[float], list[float]]:
    """Per-channel mean and std for ``data``'s channel count (explicit values win)."""
    spec = dataset_spec(data.name)
    channels = resolved_channels(data)
    mean = list(mean) if mean is not None else list(spec.mean)
    std = list(std) if std is not None else list(spec.std)

    def fit(values: list[float]) -> list[float]:
        if len(values) == channels:
            return values
        if channels == 1:
            return [float(np.mean(values))]
        return values * 3

    return fit(mean), fit(std)
