"""What a person watches while a run trains: the bar's few figures, and one line per epoch.

The bar keeps to what fits in 80 columns (loss, contrastive top-1, learning rate); each epoch
ends with one line that stays in the log: the epoch's mean loss and contrastive top-1, the
online probe's validation accuracy, the learning rate, the throughput and the time left.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm, convert_inf

BAR_NAMES = {"train/loss": "loss", "train/contrastive_acc": "top-1"}
OFF_THE_BAR = ("v_num", "val/probe_acc")  # the logger's version; the probe is in the epoch line


def learning_rate(trainer: L.Trainer) -> float | None:
    """The encoder's learning rate now (the first parameter group)."""
    return trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None


class RunProgressBar(TQDMProgressBar):
    """Lightning's bar with short names and the learning rate, without the logger version; a
    run resumed mid-epoch gets its epoch and total too (Lightning calls no
    ``on_train_epoch_start`` then, and its bar read "Training: 51/?")."""

    @property
    def train_description(self) -> str:
        return f"Epoch {self.trainer.current_epoch}"

    def init_train_tqdm(self) -> Tqdm:
        """Lightning's bar (its arguments), made with its total: Lightning's first frame, drawn
        before the total is set, read "Training: 0/?"."""
        return Tqdm(
            desc=self.train_description,
            total=convert_inf(self.total_train_batches),
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def init_validation_tqdm(self) -> Tqdm:
        """Lightning's validation bar (its arguments, during fit), made with its total too."""
        return Tqdm(
            desc=self.validation_description,
            total=convert_inf(self.total_val_batches),
            position=2 * self.process_position + 1,
            disable=self.is_disabled,
            leave=False,
            dynamic_ncols=True,
            file=sys.stdout,
            bar_format=self.BAR_FORMAT,
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self.on_train_epoch_start(trainer, pl_module)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        shown = {
            BAR_NAMES.get(name, name): value
            for name, value in super().get_metrics(trainer, pl_module).items()
            if name not in OFF_THE_BAR
        }
        rate = learning_rate(trainer)
        return shown if rate is None else {**shown, "lr": f"{rate:.3g}"}


class EpochLines(Callback):
    """One line at the end of every epoch (global rank 0), printed above the bar (a step makes
    2 views of each of the global batch's N images, :meth:`SimCLR.global_batch_size`)."""

    def __init__(self) -> None:
        self._start = 0.0
        self._first_step = 0
        self._sums: dict[str, torch.Tensor] = {}
        self._batches = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a run resumed mid-epoch gets no on_train_epoch_start for that epoch
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self._first_step = time.perf_counter(), trainer.global_step
        self._sums, self._batches = {}, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._batches += 1
        for name in ("train/loss", "train/contrastive_acc"):
            value = trainer.callback_metrics.get(name)
            if value is not None:  # summed on its device: no host sync on every step
                self._sums[name] = self._sums.get(name, 0) + value.detach()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        batches = max(1, self._batches)
        line = epoch_line(
            trainer,
            steps=trainer.global_step - self._first_step,
            seconds=time.perf_counter() - self._start,
            means={name: float(total) / batches for name, total in self._sums.items()},
            views_per_step=2 * pl_module.global_batch_size(),
        )
        bar = trainer.progress_bar_callback
        (bar.print if bar is not None else print)(line)


def epoch_line(
    trainer: L.Trainer, steps: int, seconds: float, means: dict[str, float], views_per_step: int
) -> str:
    """``[simclr] epoch 2/10 (step 468/2340), loss 4.1234, contrastive top-1 0.412, probe 0.731, lr
    0.82, 1,234 views/s, 1:02 this epoch, 8:16 left``."""
    total = int(trainer.estimated_stepping_batches)
    parts = [
        f"[simclr] epoch {trainer.current_epoch + 1}/{trainer.max_epochs} "
        f"(step {trainer.global_step}/{total})"
    ]
    if "train/loss" in means:
        parts.append(f"loss {means['train/loss']:.4f}")
    if "train/contrastive_acc" in means:
        parts.append(f"contrastive top-1 {means['train/contrastive_acc']:.3f}")
    probe = trainer.callback_metrics.get("val/probe_acc")
    if probe is not None:
        parts.append(f"probe {float(probe):.3f} (validation)")
    rate = learning_rate(trainer)
    if rate is not None:
        parts.append(f"lr {rate:.3g}")
    if steps > 0 and seconds > 0:
        parts.append(f"{steps * views_per_step / seconds:,.0f} views/s")
        left = max(0, total - trainer.global_step) * seconds / steps
        parts.append(f"{_clock(seconds)} this epoch, {_clock(left)} left")
    return ", ".join(parts)


def _clock(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
