"""The SimCLR LightningModule: views t, t' ~ T, encoder f, projection head g, NT-Xent.

Algorithm 1 of the SimCLR paper, one optimizer step per batch of N images:
two augmented views of every image (on the accelerator, after the batch reached it),
h = f(view), z = g(h), loss = NT-Xent over the 2N projections. An online linear probe trained
on ``h.detach()`` (cross-entropy, its own parameter group) shows representation quality while
training; it never sends a gradient into f.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from simclr.augment import SimCLRViews
from simclr.config.load import as_config
from simclr.config.schema import SimCLRConfig
from simclr.data.device_decode import decode_batch
from simclr.data.encoded import EncodedBatch
from simclr.data.registry import normalization, resolved_channels
from simclr.encoder import Encoder, resolved_stem
from simclr.head import ProjectionHead
from simclr.loss import nt_xent_loss
from simclr.optim import build_optimizer, scaled_learning_rate
from simclr.schedule import build_scheduler, warmup_cosine


class SimCLR(L.LightningModule):
    """SimCLR pretraining (Chen et al. 2020, algorithm 1) of ``encoder`` (f) with ``head`` (g)
    under NT-Xent (equation 1): two views of every image made on the device, h = f(view),
    z = g(h), the loss over the global batch, and an online linear probe on the detached h.
    Built from a :class:`simclr.config.SimCLRConfig` (or its dict, as a checkpoint holds it)."""

    def __init__(self, config: SimCLRConfig | dict, num_classes: int = 0) -> None:
        super().__init__()
        config = as_config(config)
        self.save_hyperparameters(
            {
                "config": OmegaConf.to_container(OmegaConf.structured(config)),
                "num_classes": num_classes,
            }
        )
        self.config = config
        channels = resolved_channels(config.data)
        mean, std = normalization(
            config.data, config.augment.normalize.mean, config.augment.normalize.std
        )
        self.views = SimCLRViews.from_config(
            config.augment, config.data.image_size, channels, mean, std
        )
        stem = resolved_stem(config.encoder.stem, config.encoder.name, config.data.image_size)
        self.encoder = Encoder(config.encoder.name, stem, channels, config.encoder.residual)
        self.head = ProjectionHead(
            self.encoder.feature_dim,
            config.head.type,
            config.head.hidden_dim,
            config.head.output_dim,
            config.head.layers,
            config.head.batch_norm,
        )
        self.probe = (
            nn.Linear(self.encoder.feature_dim, num_classes)
            if config.probe.enabled and num_classes > 0
            else None
        )
        self.skipped_images = 0  # by this process, counted for the run's summary
        self.memory_format = (
            torch.channels_last if config.trainer.channels_last else torch.contiguous_format
        )
        if config.trainer.channels_last:
            self.encoder.to(memory_format=torch.channels_last)
        if config.trainer.compile:
            self.encoder.backbone.compile()  # in place: state_dict keys stay torchvision's

    # --------------------------------------------------------------------------- batches
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment on the device the batch now lives on: uint8 images -> two float views (JPEG
        files that came encoded, under ``data.decode``, are decoded here first)."""
        if isinstance(batch, EncodedBatch):
            batch = decode_batch(batch)
        if batch is None:  # every image of the batch was unreadable
            return None
        images, labels = batch
        training = self.trainer.training if self._trainer is not None else self.training
        if training:
            view1, view2 = self.views(images)
            return self._layout(view1), self._layout(view2), labels
        return self._layout(self.views.normalize(images)), labels

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=self.memory_format)

    # --------------------------------------------------------------------------- steps
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The representation h = f(images), the output used downstream."""
        return self.encoder(images)

    def training_step(self, batch: Any, batch_index: int) -> torch.Tensor | None:
        if batch is None:  # every image of the batch was unreadable: nothing to contrast
            self.skipped_images += self.config.data.batch_size
            return None
        view1, view2, labels = batch
        n = view1.shape[0]
        self.skipped_images += self.config.data.batch_size - n  # unreadable files left out
        if n < 2:  # a single readable image has no negatives
            return None
        representation = self.encoder(torch.cat([view1, view2]))
        projection = self.head(representation)
        loss, accuracy = nt_xent_loss(
            projection[:n], projection[n:], self.config.loss.temperature, gather=True
        )
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        self.log("train/contrastive_acc", accuracy, prog_bar=True, sync_dist=True)
        if self.probe is not None:
            probe_loss, probe_accuracy = self._probe(representation.detach(), labels.repeat(2))
            if probe_loss is not None:
                self.log("train/probe_acc", probe_accuracy, sync_dist=True)
                loss = loss + probe_loss
        return loss

    def _probe(self, representation: torch.Tensor, labels: torch.Tensor):
        known = labels >= 0
        if not known.any():
            return None, None
        logits = self.probe(representation[known].float())
        loss = F.cross_entropy(logits, labels[known])
        accuracy = (logits.argmax(dim=1) == labels[known]).float().mean()
        return loss, accuracy

    def validation_step(self, batch: Any, batch_index: int) -> None:
        if self.probe is None or batch is None:
            return
        images, labels = batch
        _, accuracy = self._probe(self.encoder(images), labels)
        if accuracy is not None:
            self.log("val/probe_acc", accuracy, prog_bar=True, sync_dist=True)

    # --------------------------------------------------------------------------- optimizer
    def global_batch_size(self) -> int:
        world = self.trainer.world_size if self._trainer is not None else 1
        return self.config.data.batch_size * world

    def learning_rate(self) -> float:
        opt = self.config.optimizer
        return scaled_learning_rate(opt.base_lr, self.global_batch_size(), opt.lr_scaling)

    def configure_optimizers(self):
        probe_group = []
        if self.probe is not None:
            probe_group = [
                {
                    "params": list(self.probe.parameters()),
                    "lr": self.config.probe.lr,
                    "weight_decay": self.config.probe.weight_decay,
                }
            ]
        model = nn.ModuleList([self.encoder, self.head])
        optimizer = build_optimizer(model, self.config.optimizer, self.learning_rate(), probe_group)
        total_steps = int(self.trainer.estimated_stepping_batches)
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and getattr(datamodule, "train_set", None) is not None:
            steps_per_epoch = max(1, len(datamodule.train_set) // self.global_batch_size())
        else:
            steps_per_epoch = max(1, total_steps // max(1, self.trainer.max_epochs or 1))
        warmup_steps = round(self.config.optimizer.warmup_epochs * steps_per_epoch)
        schedule = warmup_cosine(min(warmup_steps, total_steps), total_steps)
        # a copy: a resumed run's checkpoint overwrites the scheduler's, and ExtendOnResume
        # compares the two (simclr.schedule)
        self.planned_schedule = dataclasses.replace(schedule)
        scheduler = build_scheduler(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }
