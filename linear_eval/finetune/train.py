"""Fine-tuning: the whole encoder f and a new linear classifier trained on labelled images.

SimCLR appendix B.5 ("Semi-supervised learning via fine-tuning"): every weight of f and of a
new linear layer is trained with cross-entropy, SGD with Nesterov momentum 0.9 at a learning
rate of 0.05 x batch size / 256, no warmup and no regularisation (weight decay 0) for 1 % and
10 % of the labels; the only augmentation is a random crop with a horizontal flip, resized
back to the input size. Test images are only resized and normalised. The same module trains
the from-scratch baseline: the same architecture from random weights, every setting else equal.

With ``finetune.devices=N`` (N > 1) Lightning spawns N processes on this node (``ddp_spawn``:
one per GPU, or CPU processes over gloo); each takes every N-th image of an epoch's shuffled
order (Lightning's distributed sampler), ``finetune.batch_size`` is per process and the
learning rate follows the global batch, as in pretraining. The trained weights come back to
this process, which alone tests them and writes the report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from linear_eval.finetune_config import FinetuneConfig
from linear_eval.protocols.augmented_probe import CropAndFlip
from linear_eval.protocols.metrics import topk_accuracy
from simclr.data.images import collate
from simclr.optim import scaled_learning_rate
from simclr.preprocess import Normalize, to_unit_float


class Classifier(nn.Module):
    """uint8 images -> [0, 1] -> normalised -> f -> linear layer -> class scores."""

    def __init__(self, encoder: nn.Module, num_classes: int, normalize: Normalize, seed: int):
        super().__init__()
        self.encoder, self.normalize = encoder, normalize
        with torch.random.fork_rng(devices=[]):  # the new layer depends on the seed alone
            torch.manual_seed(seed)
            self.linear = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, images: torch.Tensor, augment: nn.Module | None = None) -> torch.Tensor:
        images = to_unit_float(images)
        if augment is not None:
            images = augment(images)
        return self.linear(self.encoder(self.normalize(images)).float())


class FineTune(L.LightningModule):
    """Trains every weight of a :class:`Classifier` on augmented labelled batches (B.5)."""

    def __init__(
        self,
        classifier: Classifier,
        config: FinetuneConfig,
        image_size: int,
        crop_scale: list[float],
        steps: int,
        train: Dataset,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.classifier, self.config, self.steps, self.seed = classifier, config, steps, seed
        self.train, self.num_workers = train, num_workers
        self.augment = CropAndFlip(image_size, crop_scale)

    def train_dataloader(self) -> DataLoader:
        """The labelled rows shuffled by ``seed``; under several processes each takes every
        N-th of the epoch's order (torch's DistributedSampler, seeded here rather than by
        Lightning's global seed)."""
        options = {"shuffle": True, "generator": torch.Generator().manual_seed(self.seed)}
        if self.trainer.world_size > 1:
            sampler = DistributedSampler(
                self.train, self.trainer.world_size, self.global_rank, True, self.seed
            )
            options = {"sampler": sampler}
        return DataLoader(
            self.train,
            batch_size=self.config.batch_size,
            num_workers=self.num_workers,
            collate_fn=collate,
            **options,
        )

    @property
    def lr(self) -> float:
        """The paper's linear scaling: base_lr x global batch / 256 (appendix B.5)."""
        global_batch = self.config.batch_size * self.config.devices
        return scaled_learning_rate(self.config.base_lr, global_batch, "linear")

    def on_train_start(self) -> None:
        # crops and flips from torch's generator, seeded per process (spawned copies share a state)
        torch.manual_seed(self.seed + self.global_rank)

    def training_step(self, batch, batch_index: int) -> torch.Tensor | None:
        if batch is None:  # every image of the batch was unreadable
            return None
        images, labels = batch
        scores = self.classifier(images, self.augment)
        loss = F.cross_entropy(scores, labels)
        top1 = (scores.argmax(dim=1) == labels).float().mean()
        self.log_dict({"finetune/loss": loss, "finetune/train_top1": top1}, prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(
            self.classifier.parameters(),
            lr=self.lr,
            momentum=self.config.momentum,
            nesterov=self.config.momentum > 0,
            weight_decay=self.config.weight_decay,
        )
        if self.config.schedule == "constant":
            return optimizer
        steps = max(1, self.steps)
        cosine = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}


def test_accuracy(
    classifier: Classifier, loader, device: torch.device, ks: tuple[int, ...] = (1, 5)
) -> dict[int, float]:
    """Top-k accuracy of ``classifier`` in eval mode on the labelled images of ``loader``."""
    classifier = classifier.to(device).eval()
    scores, targets = [], []
    with torch.no_grad():
        for batch in loader:
            if batch is None:
                continue
            images, labels = batch
            keep = labels >= 0
            scores.append(classifier(images[keep].to(device)).float().cpu())
            targets.append(labels[keep])
    return topk_accuracy(torch.cat(scores), torch.cat(targets), ks)


@dataclass
class FitResult:
    classifier: Classifier
    steps: int
    seconds: float
    checkpoint: Path | None


def accelerator(device: str) -> str:
    """Lightning's accelerator for ``features.device`` (auto, cpu or cuda)."""
    return {"cuda": "gpu"}.get(device, device)


def fit(
    classifier: Classifier,
    train: Dataset,
    config: FinetuneConfig,
    epochs: int,
    image_size: int,
    crop_scale: list[float],
    run_dir: Path,
    loggers: list,
    device: str = "auto",
    num_workers: int = 0,
    seed: int = 0,
) -> FitResult:
    """Train every weight of ``classifier`` on ``train`` for ``epochs`` through a Lightning
    Trainer writing in ``run_dir`` (checkpoints/last.ckpt, the loggers' files), on
    ``config.devices`` processes; seeded: the batch order, the crops and the flips depend on
    ``seed`` (and the number of processes) alone."""
    start = time.perf_counter()
    # every process steps once per global batch: ceil(n / (batch_size x devices)) per epoch
    steps = epochs * math.ceil(len(train) / (config.batch_size * config.devices))
    module = FineTune(classifier, config, image_size, crop_scale, steps, train, num_workers, seed)
    checkpoints = ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator(device),
        devices=config.devices,
        strategy="ddp_spawn" if config.devices > 1 else "auto",
        precision=config.precision,
        logger=loggers or False,
        callbacks=[checkpoints],
        enable_progress_bar=config.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=max(1, min(10, steps // epochs)),
        default_root_dir=run_dir,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # FineTune.train_dataloader seeds its own
    )
    with torch.random.fork_rng(devices=[]):  # the caller's generator is left as it was
        trainer.fit(module)  # under ddp_spawn the trained weights are loaded back here
    last = run_dir / "checkpoints" / "last.ckpt"
    last = last if last.is_file() else None
    return FitResult(classifier, steps, round(time.perf_counter() - start, 2), last)
