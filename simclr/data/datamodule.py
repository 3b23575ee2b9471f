"""The LightningDataModule of pretraining: uint8 training batches in a seeded order and, where
the dataset is labelled, the held-out validation split for the online probe. A folder's JPEG
files reach the device still encoded under ``data.decode`` (:mod:`simclr.data.encoded`)."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from simclr.data.config import DataConfig, resolved_spec
from simclr.data.encoded import EncodedImages, collate_encoded, decoded_where
from simclr.data.images import ArrayImages, PreparedImages, collate, num_classes_of
from simclr.data.registry import dataset_spec
from simclr.data.sampling import EpochSampler
from simclr.data.splits import load_split
from simclr.data.workers import loader_workers
from simclr.errors import DataError


class SimCLRDataModule(L.LightningDataModule):
    """Training images for pretraining and, where labelled, a validation split for the probe."""

    def __init__(self, config: DataConfig, seed: int = 0) -> None:
        super().__init__()
        self.config, self.seed = config, seed
        self.spec = dataset_spec(config.name)  # a folder's splits are resolved in setup
        self.train_set: ArrayImages | PreparedImages | None = None
        self.val_set: ArrayImages | PreparedImages | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        config = self.config
        self.spec = resolved_spec(config)
        self.train_set = load_split(
            config, self.spec.pretrain_split, config.subset, self.seed, config.pretrain_on_val
        )
        if len(self.train_set) < config.batch_size:
            raise DataError(
                f"data.batch_size={config.batch_size} exceeds the {len(self.train_set)} training "
                "images: lower data.batch_size or enlarge data.subset"
            )
        # the held-out val split where there is one (simclr.data.held_out): the test split is
        # only for reporting, never for watching a run and choosing by it
        probe_split = self.spec.eval_val_split or self.spec.eval_test_split
        if probe_split is not None:
            self.val_set = load_split(config, probe_split, config.val_subset, self.seed)

    @property
    def num_classes(self) -> int:
        """Classes the online probe predicts (0 when the training images have no labels)."""
        self.setup()
        return num_classes_of(self.train_set)

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        trainer = self.trainer
        cuda = trainer is not None and isinstance(trainer.accelerator, CUDAAccelerator)
        dataset = decoded_where(dataset, self.config.decode, cuda)
        workers = loader_workers(self.config.num_workers, dataset)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        if train:  # the order is a function of (seed, epoch, rank): see simclr.data.sampling
            sampler = EpochSampler(len(dataset), self.config.batch_size, self.seed, rank, world)
        elif world > 1:  # Lightning's own replacement is off for the training order's sake
            sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
        else:
            sampler = None
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            drop_last=train,  # every step contrasts a full batch of N images
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=collate_encoded if isinstance(dataset, EncodedImages) else collate,
            # its own generator: making an iterator must not draw from the views' random state
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        self.setup()
        return [] if self.val_set is None else self._loader(self.val_set, train=False)
