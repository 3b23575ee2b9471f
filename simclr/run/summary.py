"""What a run shows and leaves behind: its scale at the start, its summary at the end.

Made inside the processes that train, so it is the same under every launcher; global rank 0
writes ``encoder.pt``, ``encoder.yaml`` and ``summary.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from simclr.config.schema import OptimizerConfig, SimCLRConfig
from simclr.module import SimCLR
from simclr.optim import scaled_learning_rate
from simclr.run.atomic import atomic_write
from simclr.run.clean import human_size, size_of
from simclr.run.derived import set_aside_derived_outputs
from simclr.run.export import export_encoder


@dataclass
class PretrainSummary:
    run_dir: str
    global_step: int
    images_seen: int
    seconds: float
    final_loss: float | None
    contrastive_accuracy: float | None
    probe_accuracy: float | None
    encoder_path: str
    skipped_images: int = 0  # unreadable image reads left out, all epochs and processes
    training_images: int = 0
    run_dir_bytes: int = 0  # what the run directory holds at the end (global rank 0's count)
    checkpoint_bytes: int = 0

    def lines(self) -> list[str]:
        def fmt(value: float | None, spec: str) -> str:
            return "n/a" if value is None else format(value, spec)

        return [
            f"run directory        {self.run_dir}",
            f"optimizer steps      {self.global_step}",
            f"images seen          {self.images_seen:,} ({2 * self.images_seen:,} views)",
            f"time                 {self.seconds:.1f} s",
            f"final NT-Xent loss   {fmt(self.final_loss, '.4f')}",
            f"contrastive top-1    {fmt(self.contrastive_accuracy, '.3f')}",
            f"online probe top-1   {fmt(self.probe_accuracy, '.3f')} (validation split)",
            f"exported encoder     {self.encoder_path}",
            f"disk                 {human_size(self.run_dir_bytes)} in the run directory "
            f"({human_size(self.checkpoint_bytes)} of checkpoints)",
        ] + (
            [
                f"skipped              {self.skipped_images} unreadable of "
                f"{self.training_images:,} images (summed over epochs; each was warned by name)"
            ]
            if self.skipped_images
            else []
        )


class RunOutputs(Callback):
    """What a run shows and leaves behind, made inside the processes that trained (so it is the
    same under every launcher): the scale of the run at its start; ``encoder.pt``,
    ``encoder.yaml`` and ``summary.json`` from global rank 0 at its end."""

    def __init__(
        self, run_dir: Path, config: SimCLRConfig, training_images: int, quiet: bool = False
    ) -> None:
        self.run_dir, self.quiet = run_dir, quiet
        self.batch_size, self.optimizer = config.data.batch_size, config.optimizer
        self.training_images = training_images
        self.summary: PretrainSummary | None = None
        self._start = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: SimCLR) -> None:
        self._start = time.perf_counter()
        if trainer.is_global_zero and not self.quiet:
            print(scale_line(trainer, self.batch_size, self.optimizer), flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: SimCLR) -> None:
        self.summary = PretrainSummary(
            run_dir=str(self.run_dir),
            global_step=trainer.global_step,
            images_seen=trainer.global_step * self.batch_size * trainer.world_size,
            seconds=time.perf_counter() - self._start,
            final_loss=_metric(trainer, "train/loss"),
            contrastive_accuracy=_metric(trainer, "train/contrastive_acc"),
            probe_accuracy=_metric(trainer, "val/probe_acc"),
            encoder_path=str(self.run_dir / "encoder.pt"),
            skipped_images=_sum_over_processes(trainer, pl_module),
            training_images=self.training_images,
        )
        if trainer.is_global_zero:
            if trainer.ckpt_path is not None:  # resumed: the encoder.pt there is replaced
                moved = set_aside_derived_outputs(self.run_dir)
                if moved is not None and not self.quiet:
                    print(
                        f"[simclr] the encoder changed: the former encoder's results moved to "
                        f"{moved} ('simclr clean {self.run_dir}' deletes them)",
                        flush=True,
                    )
            export_encoder(pl_module, self.run_dir)
            write_summary(self.summary, self.run_dir)


def write_summary(summary: PretrainSummary, run_dir: Path) -> None:
    """``summary.json``, atomically."""
    atomic_write(run_dir / "summary.json", (json.dumps(asdict(summary), indent=2) + "\n").encode())


def record_disk(summary: PretrainSummary, run_dir: Path) -> PretrainSummary:
    """The summary with the bytes the run directory and its checkpoints hold now (after the
    final checkpoint, which Lightning writes after every other callback), written back."""
    summary.checkpoint_bytes = size_of(run_dir / "checkpoints")
    summary.run_dir_bytes = size_of(run_dir)
    write_summary(summary, run_dir)
    return summary


def _sum_over_processes(trainer: L.Trainer, module: SimCLR) -> int:
    """Unreadable images every process left out (on the module's device: NCCL needs GPUs)."""
    count = torch.tensor(float(module.skipped_images), device=module.device)
    return int(trainer.strategy.reduce(count, reduce_op="sum"))


def scale_line(trainer: L.Trainer, per_device: int, optimizer: OptimizerConfig) -> str:
    """World size, per-device and global batch, negatives and the scaled learning rate."""
    world = trainer.world_size
    total = per_device * world
    rate = scaled_learning_rate(optimizer.base_lr, total, optimizer.lr_scaling)
    return (
        f"[simclr] {world} process(es) ({trainer.num_nodes} node(s) x {trainer.num_devices} "
        f"device(s)), per-device batch {per_device}, global batch N = {total} "
        f"({2 * total - 2} negatives per view), learning rate {rate:.4g} "
        f"({optimizer.name}, base_lr {optimizer.base_lr:g}, {optimizer.lr_scaling} scaling), "
        f"precision {trainer.precision}"
    )


def _metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return None if value is None else float(value)
