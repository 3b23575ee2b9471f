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

from simclr.module import SimCLR
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

    def __init__(self, run_dir: Path, training_images: int, quiet: bool = False) -> None:
        self.run_dir, self.quiet = run_dir, quiet
        self.training_images = training_images
        self.summary: PretrainSummary | None = None
        self._start = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: SimCLR) -> None:
        self._start = time.perf_counter()
        if trainer.is_global_zero and not self.quiet:
            print(scale_line(trainer, pl_module), flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: SimCLR) -> None:
        self.summary = PretrainSummary(
            run_dir=str(self.run_dir),
            global_step=trainer.global_step,
            images_seen=trainer.global_step * pl_module.global_batch_size(),
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


def scale_line(trainer: L.Trainer, module: SimCLR) -> str:
    """World size, per-device and global batch, negatives and the scaled learning rate: the
    module's own N and rate (:meth:`SimCLR.global_batch_size`, :meth:`SimCLR.learning_rate`)."""
    total, optimizer = module.global_batch_size(), module.optimizer_config
    return (
        f"[simclr] {trainer.world_size} process(es) ({trainer.num_nodes} node(s) x "
        f"{trainer.num_devices} device(s)), per-device batch {module.batch_size}, global batch "
        f"N = {total} ({2 * total - 2} negatives per view), learning rate "
        f"{module.learning_rate():.4g} ({optimizer.name}, base_lr {optimizer.base_lr:g}, "
        f"{optimizer.lr_scaling} scaling), precision {trainer.precision}"
    )


def _metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return None if value is None else float(value)
