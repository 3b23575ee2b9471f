"""The SimCLR LightningModule: views t, t' ~ T, encoder f, projection head g, NT-Xent.

Algorithm 1 of the SimCLR paper, one optimizer step per batch of N images:
two augmented views of every image (on the accelerator, after the batch reached it),
h = f(view), z = g(h), loss = NT-Xent over the 2N projections. An online linear probe
(:mod:`simclr.probe`) trained on ``h.detach()`` shows representation quality while training; it
never sends a gradient into f.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from omegaconf import OmegaConf
from torch import nn

from simclr.augment import build_views
from simclr.chunked import nt_xent_in_chunks
from simclr.config.load import as_config, pretraining_hyperparameters
from simclr.config.schema import OptimizerConfig, SimCLRConfig
from simclr.data.config import normalization, resolved_channels
from simclr.data.device_decode import decode_batch
from simclr.data.encoded import EncodedBatch
from simclr.encoder import build_encoder
from simclr.errors import ConfigError
from simclr.head import ProjectionHead
from simclr.loss import multi_view_nt_xent_loss, nt_xent_loss
from simclr.optim import build_optimizer, scaled_learning_rate
from simclr.probe import OnlineProbe
from simclr.schedule import build_scheduler, warmup_cosine


class SimCLR(L.LightningModule):
    """SimCLR pretraining (Chen et al. 2020, algorithm 1): two views of every image made on the
    device by ``views`` (t, t' ~ T), h = ``encoder``(view) (f), z = ``head``(h) (g), NT-Xent at
    ``temperature`` (equation 1) over the global batch, and an optional online ``probe`` on the
    detached h.

    The module composes the blocks it is handed; :meth:`from_config` builds them from a
    :class:`simclr.config.SimCLRConfig`. ``batch_size`` is the batch of one process: the global
    batch N is it times Lightning's world size. ``optimizer`` is the optimizer's settings, an
    :class:`simclr.config.schema.OptimizerConfig` (LARS by default, its ``base_lr``, the rule
    that scales it with N, ``base_lr * N / 256`` under linear scaling, SimCLR appendix B.1, and
    the warm-up): the module builds the optimizer and its schedule from them in
    :meth:`configure_optimizers`; override that method for an optimizer of your own. ``views``
    maps uint8 images to two float views and has ``normalize`` for validation images, as
    :class:`simclr.augment.SimCLRViews` does; ``encoder`` has ``feature_dim``. With
    ``chunk_size`` a process's batch goes through f and g that many images at a time, with the
    gradient of one pass (:mod:`simclr.chunked`): any batch in the memory of one chunk."""

    def __init__(
        self,
        views: nn.Module,
        encoder: nn.Module,
        head: nn.Module,
        temperature: float = 0.1,
        *,
        batch_size: int = 256,
        optimizer: OptimizerConfig | None = None,
        probe: OnlineProbe | None = None,
        channels_last: bool = False,
        chunk_size: int | None = None,
        chunk_running_stats: str = "every_chunk",
    ) -> None:
        super().__init__()
        self.views, self.encoder, self.head, self.probe = views, encoder, head, probe
        self.temperature, self.batch_size = temperature, batch_size
        self.optimizer_config = optimizer if optimizer is not None else OptimizerConfig()
        self.skipped_images = 0  # by this process, counted for the run's summary
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.encoder.to(memory_format=torch.channels_last)
        # a batch embedded in chunks is backpropagated chunk by chunk: Lightning's manual
        # optimization, where training_step steps the optimizer itself
        self.chunk_size, self.chunk_running_stats = chunk_size, chunk_running_stats
        self.automatic_optimization = chunk_size is None
        # views that take chunk_size (SimCLRViews does; any views module may) make the batch's
        # views that many images at a time too; others make them in one pass, as told
        self.views_take_chunks = takes_chunk_size(views)
        if chunk_size is not None and not self.views_take_chunks:
            rank_zero_warn(
                f"chunk_size={chunk_size}: {type(views).__name__} takes no chunk_size, so each "
                "batch's views are made in one pass (f and g still run in chunks); give its "
                "forward a chunk_size=None argument to make them in chunks"
            )

    @classmethod
    def from_config(cls, config: SimCLRConfig | dict, num_classes: int = 0) -> SimCLR:
        """The module a config describes (a dict too, as a checkpoint holds it), with a probe
        over ``num_classes`` when ``probe.enabled`` and the data has labels. The config and
        ``num_classes`` are its hyperparameters, so a checkpoint names what built it."""
        config = as_config(config)
        channels = resolved_channels(config.data)
        mean, std = normalization(
            config.data, config.augment.normalize.mean, config.augment.normalize.std
        )
        views = build_views(config.augment, config.data.image_size, channels, mean, std)
        encoder = build_encoder(config)
        head_config = config.head
        head = ProjectionHead(
            encoder.feature_dim,
            head_config.type,
            head_config.hidden_dim,
            head_config.projection_dim,
            head_config.layers,
            head_config.batch_norm,
        )
        probe = None
        if config.probe.enabled and num_classes > 0:
            probe = OnlineProbe(
                encoder.feature_dim, num_classes, config.probe.lr, config.probe.weight_decay
            )
        if config.trainer.compile:
            encoder.backbone.compile()  # in place: state_dict keys stay torchvision's
        module = cls(
            views,
            encoder,
            head,
            config.loss.temperature,
            batch_size=config.data.batch_size,
            optimizer=config.optimizer,
            probe=probe,
            channels_last=config.trainer.channels_last,
            chunk_size=config.trainer.chunk_size,
            chunk_running_stats=config.trainer.chunk_running_stats,
        )
        container = OmegaConf.to_container(OmegaConf.structured(config))
        module.save_hyperparameters({"config": container, "num_classes": num_classes})
        return module

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: Any = "cpu", **unused: Any
    ) -> SimCLR:
        """The module a pretraining checkpoint holds, rebuilt by :meth:`from_config` from its
        hyperparameters and loaded strictly. Only tensors and plain values are read
        (``weights_only``); a checkpoint without a simclr config is refused in one line."""
        checkpoint = torch.load(checkpoint_path, map_location=map_location, weights_only=True)
        hyperparameters = pretraining_hyperparameters(checkpoint)
        if hyperparameters is None:
            raise ConfigError(
                f"checkpoint {checkpoint_path}: not a simclr pretraining checkpoint (no config "
                "among its hyperparameters)"
            )
        module = cls.from_config(hyperparameters["config"], hyperparameters.get("num_classes", 0))
        module.load_state_dict(checkpoint["state_dict"])
        return module

    # --------------------------------------------------------------------------- batches
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment on the device the batch now lives on: uint8 images -> float views, (view 1,
        view 2, ..., labels) (JPEG files that came encoded, under ``data.decode``, are decoded
        here first)."""
        if isinstance(batch, EncodedBatch):
            batch = decode_batch(batch)
        if batch is None:  # every image of the batch was unreadable
            return None
        images, labels = batch
        training = self.trainer.training if self._trainer is not None else self.training
        if training:
            if self.chunk_size is not None and self.views_take_chunks:
                # the same views, their intermediates in the memory of one chunk
                views = self.views(images, chunk_size=self.chunk_size)
            else:
                views = self.views(images)
            return (*(self._layout(view) for view in views), labels)
        return self._layout(self.views.normalize(images)), labels

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=self.memory_format)

    # --------------------------------------------------------------------------- steps
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The representation h = f(images), the output used downstream."""
        return self.encoder(images)

    def training_step(self, batch: Any, batch_index: int) -> torch.Tensor | None:
        if batch is None:  # every image of the batch was unreadable: nothing to contrast
            self.skipped_images += self.batch_size
            return None
        *views, labels = batch
        n = views[0].shape[0]
        self.skipped_images += self.batch_size - n  # unreadable files left out
        if n < 2:  # a single readable image has no negatives
            return None
        if self.chunk_size is not None:
            return self._chunked_step(*views, labels)
        representation = self._embed(views)
        projections = self.head(representation).split(n)
        if len(projections) == 2:
            loss, accuracy = nt_xent_loss(*projections, self.temperature, gather=True)
        else:
            loss, accuracy = multi_view_nt_xent_loss(projections, self.temperature, gather=True)
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        self.log("train/contrastive_acc", accuracy, prog_bar=True, sync_dist=True)
        if self.probe is not None:  # on the first two views, at the views' side
            probe_loss, probe_accuracy = self.probe.loss_and_accuracy(
                representation[: 2 * n].detach(), labels.repeat(2)
            )
            if probe_loss is not None:
                self.log("train/probe_acc", probe_accuracy, sync_dist=True)
                loss = loss + probe_loss
        return loss

    def _embed(self, views: list[torch.Tensor]) -> torch.Tensor:
        """h of every view, in order: views of one side go through f together (multi-crop's
        small views in a pass of their own, as SwAV does)."""
        passes = [list(same) for _, same in itertools.groupby(views, key=lambda v: v.shape)]
        return torch.cat([self.encoder(torch.cat(same)) for same in passes])

    def _chunked_step(
        self, view1: torch.Tensor, view2: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """One optimizer step over the batch embedded ``chunk_size`` images at a time, with the
        gradient of one pass (:mod:`simclr.chunked`); the probe learns with the last chunk."""
        optimizer = self.optimizers()
        optimizer.zero_grad()

        def forward(views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            representation = self.encoder(views)
            return self.head(representation), representation.detach()

        def probe_loss(representation: torch.Tensor | None) -> torch.Tensor | None:
            if self.probe is None or representation is None:
                return None
            loss, accuracy = self.probe.loss_and_accuracy(representation, labels.repeat(2))
            if loss is not None:
                self.log("train/probe_acc", accuracy, sync_dist=True)
            return loss

        strategy = self.trainer.strategy
        step = nt_xent_in_chunks(
            forward,
            view1,
            view2,
            self.chunk_size,
            self.temperature,
            backward=self.manual_backward,
            no_sync=getattr(strategy, "block_backward_sync", nullcontext),
            buffers_of=self,
            extra_loss=probe_loss,
            running_stats=self.chunk_running_stats,
        )
        optimizer.step()
        self.lr_schedulers().step()
        self.log("train/loss", step.loss, prog_bar=True, sync_dist=True)
        self.log("train/contrastive_acc", step.accuracy, prog_bar=True, sync_dist=True)
        return step.loss

    def validation_step(self, batch: Any, batch_index: int) -> None:
        if self.probe is None or batch is None:
            return
        images, labels = batch
        _, accuracy = self.probe.loss_and_accuracy(self.encoder(images), labels)
        if accuracy is not None:
            self.log("val/probe_acc", accuracy, prog_bar=True, sync_dist=True)

    # --------------------------------------------------------------------------- optimizer
    def global_batch_size(self) -> int:
        """N: this process's batch times Lightning's world size (1 without a trainer)."""
        world = self.trainer.world_size if self._trainer is not None else 1
        return self.batch_size * world

    def learning_rate(self) -> float:
        """The peak learning rate: ``optimizer.base_lr`` scaled with the global batch N."""
        optimizer = self.optimizer_config
        return scaled_learning_rate(
            optimizer.base_lr, self.global_batch_size(), optimizer.lr_scaling
        )

    def configure_optimizers(self):
        probe_group = [self.probe.parameter_group()] if self.probe is not None else []
        model = nn.ModuleList([self.encoder, self.head])
        optimizer = build_optimizer(model, self.optimizer_config, self.learning_rate(), probe_group)
        total_steps = int(self.trainer.estimated_stepping_batches)
        warmup_steps = round(
            self.optimizer_config.warmup_epochs * self._steps_per_epoch(total_steps)
        )
        schedule = warmup_cosine(min(warmup_steps, total_steps), total_steps)
        # a copy: a resumed run's checkpoint overwrites the scheduler's, and ExtendOnResume
        # compares the two (simclr.schedule)
        self.planned_schedule = dataclasses.replace(schedule)
        scheduler = build_scheduler(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }

    def _steps_per_epoch(self, total_steps: int) -> int:
        """Lightning's count of a process's training batches an epoch; a loader without a
        length spreads the planned steps over the epochs."""
        if self.trainer.num_training_batches == float("inf"):
            self.trainer.fit_loop.setup_data()  # not loaded yet when max_epochs is -1
        batches = self.trainer.num_training_batches
        if batches == float("inf"):
            return max(1, total_steps // max(1, self.trainer.max_epochs or 1))
        return max(1, int(batches) // self.trainer.accumulate_grad_batches)


def takes_chunk_size(views: nn.Module) -> bool:
    """Whether ``views(images, chunk_size=...)`` is accepted: the protocol of views that can be
    made a chunk of images at a time (:meth:`simclr.augment.SimCLRViews.forward`)."""
    call = views.forward if isinstance(views, nn.Module) else views  # not Module.__call__'s
    try:
        parameters = inspect.signature(call).parameters
    except (TypeError, ValueError):  # a callable without a signature: call it plainly
        return False
    return "chunk_size" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
