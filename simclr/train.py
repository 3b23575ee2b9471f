"""``simclr pretrain``: one pretraining run in its own run directory.

A run directory holds ``config.yaml`` (the resolved config), ``checkpoints/`` (``last.ckpt``,
refreshed every few steps and at the end, and ``epochNNN.ckpt`` every N epochs), ``csv/`` and
``tensorboard/`` logs, the exported encoder (``encoder.pt``, a plain torchvision state_dict,
with ``encoder.yaml`` describing the architecture) and ``summary.json``.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from omegaconf import OmegaConf

from simclr.config import ConfigError, SimCLRConfig, load_config, save_config
from simclr.data import SimCLRDataModule, loader_workers
from simclr.module import SimCLR

LAST_CHECKPOINT_EVERY_N_STEPS = 50


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
        ]


def new_run_dir(config: SimCLRConfig) -> Path:
    """``run.out_dir/run.name``; refuses a directory that already holds a run."""
    name = config.run.name or datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(config.run.out_dir) / name
    if (run_dir / "config.yaml").exists() or (run_dir / "checkpoints").exists():
        raise ConfigError(
            f"run.name={name!r}: {run_dir} already holds a run; resume it with "
            f"'simclr pretrain --resume {run_dir}' or choose another run.name"
        )
    return run_dir


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> SimCLRConfig:
    """The saved config of ``run_dir`` with ``overrides`` on top (e.g. more epochs)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there, so it is not a run directory")
    if not (run_dir / "checkpoints" / "last.ckpt").is_file():
        raise ConfigError(f"--resume {run_dir}: no checkpoints/last.ckpt to resume from")
    return load_config(run_dir / "config.yaml", overrides)


def build_trainer(config: SimCLRConfig, run_dir: Path) -> L.Trainer:
    trainer_config = config.trainer
    checkpoints = run_dir / "checkpoints"
    callbacks = [
        ModelCheckpoint(
            dirpath=checkpoints,
            filename="epoch{epoch:03d}",
            auto_insert_metric_name=False,
            every_n_epochs=trainer_config.checkpoint_every_n_epochs,
            save_top_k=-1,
            save_on_train_epoch_end=True,
        ),
        # the rolling last.ckpt makes an interrupted run resumable close to where it stopped
        ModelCheckpoint(
            dirpath=checkpoints,
            save_top_k=0,
            save_last=True,
            every_n_train_steps=LAST_CHECKPOINT_EVERY_N_STEPS,
        ),
        LearningRateMonitor(logging_interval="step"),
    ]
    if trainer_config.progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    devices = trainer_config.devices
    several = devices not in (1, "1", [0]) or trainer_config.num_nodes > 1
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=trainer_config.max_epochs,
        max_steps=trainer_config.max_steps,
        accelerator=trainer_config.accelerator,
        devices=devices,
        num_nodes=trainer_config.num_nodes,
        strategy=trainer_config.strategy,
        precision=trainer_config.precision,
        sync_batchnorm=trainer_config.sync_batchnorm and several,
        log_every_n_steps=trainer_config.log_every_n_steps,
        check_val_every_n_epoch=trainer_config.val_every_n_epochs,
        limit_val_batches=trainer_config.limit_val_batches,
        num_sanity_val_steps=0,
        enable_progress_bar=trainer_config.progress_bar,
        enable_model_summary=False,
        callbacks=callbacks,
        logger=[
            CSVLogger(run_dir, name="csv"),
            TensorBoardLogger(run_dir, name="tensorboard", default_hp_metric=False),
        ],
    )


def export_encoder(module: SimCLR, run_dir: Path) -> Path:
    """Write f as a plain torchvision state_dict plus ``encoder.yaml`` describing it."""
    path = run_dir / "encoder.pt"
    state = {
        k: v.detach().cpu().contiguous() for k, v in module.encoder.backbone.state_dict().items()
    }
    torch.save(state, path)
    OmegaConf.save(OmegaConf.create(module.encoder.describe()), run_dir / "encoder.yaml")
    return path


def _metric(trainer: L.Trainer, key: str) -> float | None:
    value = trainer.callback_metrics.get(key)
    return None if value is None else float(value)


def pretrain(
    config: SimCLRConfig, resume_dir: str | Path | None = None, quiet: bool = False
) -> PretrainSummary:
    """Pretrain as ``config`` says; with ``resume_dir``, continue that run from its last.ckpt."""
    if resume_dir is not None:
        run_dir, checkpoint = Path(resume_dir), Path(resume_dir) / "checkpoints" / "last.ckpt"
    else:
        run_dir, checkpoint = new_run_dir(config), None
    L.seed_everything(config.run.seed, workers=True, verbose=False)
    datamodule = SimCLRDataModule(config.data, seed=config.run.seed)
    datamodule.setup("fit")  # a data error surfaces now, before anything is written
    module = SimCLR(config, num_classes=datamodule.num_classes)
    trainer = build_trainer(config, run_dir)

    run_dir.mkdir(parents=True, exist_ok=True)
    if trainer.is_global_zero:
        save_config(config, run_dir / "config.yaml")
    # the views are made in the module on purpose; the data module only hands over uint8
    warnings.filterwarnings("ignore", message=".*on_after_batch_transfer.*LightningDataModule")
    if config.data.num_workers is None and loader_workers(None, datamodule.train_set) == 0:
        # auto chose none (in-memory images, a batch is one gather): workers would not help
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint)
    seconds = time.perf_counter() - start
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")

    encoder_path = run_dir / "encoder.pt"
    if trainer.is_global_zero:
        encoder_path = export_encoder(module, run_dir)
    summary = PretrainSummary(
        run_dir=str(run_dir),
        global_step=trainer.global_step,
        images_seen=trainer.global_step * module.global_batch_size(),
        seconds=seconds,
        final_loss=_metric(trainer, "train/loss"),
        contrastive_accuracy=_metric(trainer, "train/contrastive_acc"),
        probe_accuracy=_metric(trainer, "val/probe_acc"),
        encoder_path=str(encoder_path),
    )
    if trainer.is_global_zero:
        (run_dir / "summary.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
        if not quiet:
            print("\n".join(["", "SimCLR pretraining finished", *summary.lines()]))
    return summary
