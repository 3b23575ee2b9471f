"""``simclr pretrain``: one pretraining run in its own run directory.

A run directory holds ``config.yaml`` (the resolved config), ``checkpoints/`` (``last.ckpt``,
refreshed every few steps and at the end, and ``epochNNN.ckpt`` every N epochs), ``csv/`` and
``tensorboard/`` logs, the exported encoder (``encoder.pt``, a plain torchvision state_dict,
with ``encoder.yaml`` describing the architecture) and ``summary.json``.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    Callback,
    LearningRateMonitor,
    ModelCheckpoint,
    TQDMProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from omegaconf import OmegaConf

from simclr.atomic import atomic_write, remove_stale_temporaries
from simclr.config import ConfigError, SimCLRConfig, load_config, save_config
from simclr.data import SimCLRDataModule, loader_workers
from simclr.divergence import StopOnDivergence
from simclr.launch import check_devices, run_directory, sync_batchnorm
from simclr.module import SimCLR
from simclr.resume import ExactResume
from simclr.torch_files import read_torch_file


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
        ] + (
            [
                f"skipped              {self.skipped_images} unreadable of "
                f"{self.training_images:,} images (summed over epochs; each was warned by name)"
            ]
            if self.skipped_images
            else []
        )


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> SimCLRConfig:
    """The saved config of ``run_dir`` with ``overrides`` on top (e.g. more epochs)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there, so it is not a run directory")
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise ConfigError(f"--resume {run_dir}: no checkpoints/last.ckpt to resume from")
    read_torch_file(checkpoint, "--resume")  # unsafe or damaged: one line, before any work
    return load_config(run_dir / "config.yaml", overrides)


class LastCheckpoint(ModelCheckpoint):
    """``checkpoints/last.ckpt`` every ``every_n_train_steps`` and at the final step.

    Lightning 2.6 skips ``last.ckpt`` at the end of training once any was saved, so a run that
    ends between two saves would resume from an older step.
    """

    def __init__(self, dirpath: Path, every_n_train_steps: int) -> None:
        super().__init__(
            dirpath=dirpath, save_top_k=0, save_last=True, every_n_train_steps=every_n_train_steps
        )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


class RunOutputs(Callback):
    """What a run shows and leaves behind, made inside the processes that trained (so it is the
    same under every launcher): the scale of the run at its start; ``encoder.pt``,
    ``encoder.yaml`` and ``summary.json`` from global rank 0 at its end."""

    def __init__(self, run_dir: Path, quiet: bool = False) -> None:
        self.run_dir, self.quiet = run_dir, quiet
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
            training_images=len(getattr(trainer.datamodule, "train_set", None) or []),
        )
        if trainer.is_global_zero:
            export_encoder(pl_module, self.run_dir)
            text = json.dumps(asdict(self.summary), indent=2) + "\n"
            atomic_write(self.run_dir / "summary.json", text.encode())


def _sum_over_processes(trainer: L.Trainer, module: SimCLR) -> int:
    """Unreadable images every process left out (on the module's device: NCCL needs GPUs)."""
    count = torch.tensor(float(module.skipped_images), device=module.device)
    return int(trainer.strategy.reduce(count, reduce_op="sum"))


def scale_line(trainer: L.Trainer, module: SimCLR) -> str:
    """World size, per-device and global batch, negatives and the scaled learning rate."""
    world, per_device = trainer.world_size, module.config.data.batch_size
    total = module.global_batch_size()
    optimizer = module.config.optimizer
    return (
        f"[simclr] {world} process(es) ({trainer.num_nodes} node(s) x {trainer.num_devices} "
        f"device(s)), per-device batch {per_device}, global batch N = {total} "
        f"({2 * total - 2} negatives per view), learning rate {module.learning_rate():.4g} "
        f"({optimizer.name}, base_lr {optimizer.base_lr:g}, {optimizer.lr_scaling} scaling)"
    )


def build_trainer(config: SimCLRConfig, run_dir: Path, outputs: RunOutputs) -> L.Trainer:
    trainer_config = config.trainer
    checkpoints = run_dir / "checkpoints"
    callbacks: list[Callback] = [
        ModelCheckpoint(
            dirpath=checkpoints,
            filename="epoch{epoch:03d}",
            auto_insert_metric_name=False,
            every_n_epochs=trainer_config.checkpoint_every_n_epochs,
            save_top_k=-1,
            save_on_train_epoch_end=True,
        ),
        # the rolling last.ckpt makes an interrupted run resumable close to where it stopped
        LastCheckpoint(checkpoints, trainer_config.last_checkpoint_every_n_steps),
        StopOnDivergence(str(checkpoints / "last.ckpt")),
        ExactResume(),
        LearningRateMonitor(logging_interval="step"),
        outputs,
    ]
    if trainer_config.progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=trainer_config.max_epochs,
        max_steps=trainer_config.max_steps,
        accelerator=trainer_config.accelerator,
        devices=trainer_config.devices,
        num_nodes=trainer_config.num_nodes,
        strategy=trainer_config.strategy,
        precision=trainer_config.precision,
        sync_batchnorm=sync_batchnorm(trainer_config),
        log_every_n_steps=trainer_config.log_every_n_steps,
        check_val_every_n_epoch=trainer_config.val_every_n_epochs,
        limit_val_batches=_fraction_or_count(trainer_config.limit_val_batches),
        num_sanity_val_steps=0,
        enable_progress_bar=trainer_config.progress_bar,
        enable_model_summary=False,
        use_distributed_sampler=False,  # simclr.sampling deals the images to the processes
        callbacks=callbacks,
        logger=[
            CSVLogger(run_dir, name="csv"),
            TensorBoardLogger(run_dir, name="tensorboard", default_hp_metric=False),
        ],
    )


def _fraction_or_count(value: float) -> float | int:
    """Lightning reads a float as a fraction and an int as a count of batches."""
    return int(value) if value > 1 else value


def export_encoder(module: SimCLR, run_dir: Path) -> Path:
    """Write f as a plain torchvision state_dict plus ``encoder.yaml`` describing it."""
    path = run_dir / "encoder.pt"
    state = {
        k: v.detach().cpu().contiguous() for k, v in module.encoder.backbone.state_dict().items()
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, buffer.getvalue())
    description = OmegaConf.to_yaml(OmegaConf.create(module.encoder.describe()))
    atomic_write(run_dir / "encoder.yaml", description.encode())
    return path


def _metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return None if value is None else float(value)


def pretrain(
    config: SimCLRConfig, resume_dir: str | Path | None = None, quiet: bool = False
) -> PretrainSummary:
    """Pretrain as ``config`` says; with ``resume_dir``, continue that run from its last.ckpt.

    Every process of a multi-device run calls this (Lightning's ddp launcher and torchrun run
    the command once per process); they agree on one run directory, and only global rank 0
    writes the run's files.
    """
    check_devices(config.trainer)
    L.seed_everything(config.run.seed, workers=True, verbose=False)
    datamodule = SimCLRDataModule(config.data, seed=config.run.seed)
    datamodule.setup("fit")  # a data error surfaces now, before anything is written
    module = SimCLR(config, num_classes=datamodule.num_classes)
    run = run_directory(config.run, resume_dir)
    checkpoint = None if run.new else run.path / "checkpoints" / "last.ckpt"
    outputs = RunOutputs(run.path, quiet)
    trainer = build_trainer(config, run.path, outputs)
    run.claim()
    if run.writer:
        remove_stale_temporaries(run.path)  # of an earlier process killed while writing
        save_config(config, run.path / "config.yaml")
    # the views are made in the module on purpose; the data module only hands over uint8
    warnings.filterwarnings("ignore", message=".*on_after_batch_transfer.*LightningDataModule")
    if config.data.num_workers is None and loader_workers(None, datamodule.train_set) == 0:
        # auto chose none (in-memory images, a batch is one gather): workers would not help
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint)
    # under ddp_spawn this process did not train: the spawned rank 0 wrote the summary
    summary = outputs.summary or PretrainSummary(
        **json.loads((run.path / "summary.json").read_text())
    )
    if trainer.is_global_zero and not quiet:
        print("\n".join(["", "SimCLR pretraining finished", *summary.lines()]))
    return summary
