"""One pretraining run in its own run directory: the Trainer, its callbacks, and resuming.

A run directory holds ``config.yaml`` (the resolved config), ``checkpoints/`` (``last.ckpt``,
refreshed every few steps and at the end, and ``epochNNN.ckpt`` every N epochs), the logs of
``trainer.loggers`` (``csv/``, ``tensorboard/``: :mod:`simclr.run.loggers`), the exported encoder
(``encoder.pt``, a plain torchvision state_dict, with ``encoder.yaml`` describing the
architecture) and ``summary.json``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import (
    Callback,
    LearningRateMonitor,
    ModelCheckpoint,
)
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException

from simclr.config.merge import save_config
from simclr.config.schema import SimCLRConfig
from simclr.data.datamodule import SimCLRDataModule
from simclr.data.workers import loader_workers
from simclr.errors import DataError
from simclr.module import SimCLR
from simclr.run.atomic import remove_stale_temporaries
from simclr.run.checkpoints import LastCheckpoint, checkpoint_bytes
from simclr.run.console import quiet_lightning
from simclr.run.directory import run_directory
from simclr.run.divergence import StopOnDivergence
from simclr.run.launch import (
    check_devices,
    is_global_rank_zero,
    is_lost_process,
    lost_process,
    refused_setting,
    resolved_precision,
    sync_batchnorm,
)
from simclr.run.loggers import RecordRunIds, build_loggers, check_logger_packages, finish_runs
from simclr.run.paths import check_free_space
from simclr.run.preemption import StopOnSignal
from simclr.run.progress import EpochLines, RunProgressBar
from simclr.run.resume import ExactResume, budget_reached, resume_checkpoint
from simclr.run.summary import PretrainSummary, RunOutputs, record_disk
from simclr.run.torch_files import read_torch_file
from simclr.schedule import ExtendOnResume


def build_trainer(
    config: SimCLRConfig,
    run_dir: Path,
    outputs: RunOutputs,
    rank_zero: bool = True,
    probe_validated: bool = False,
) -> L.Trainer:
    """The Trainer of a run; ``probe_validated``: the online probe logs a validation accuracy,
    and ``best.ckpt`` keeps the checkpoint where it was highest."""
    trainer_config = config.trainer
    loggers = build_loggers(config, run_dir, rank_zero)
    checkpoints = run_dir / "checkpoints"
    callbacks: list[Callback] = []
    if trainer_config.checkpoint_every_n_epochs > 0:
        callbacks.append(
            ModelCheckpoint(
                dirpath=checkpoints,
                filename="epoch{epoch:03d}",
                auto_insert_metric_name=False,
                every_n_epochs=trainer_config.checkpoint_every_n_epochs,
                save_top_k=-1,
                save_on_train_epoch_end=True,
            )
        )
    if probe_validated:  # best.ckpt: the highest online-probe accuracy on the validation split
        callbacks.append(
            ModelCheckpoint(
                dirpath=checkpoints,
                filename="best",
                monitor="val/probe_acc",
                mode="max",
                save_top_k=1,
                enable_version_counter=False,
            )
        )
    callbacks += [
        # the rolling last.ckpt makes an interrupted run resumable close to where it stopped
        LastCheckpoint(checkpoints, trainer_config.last_checkpoint_every_n_steps),
        StopOnDivergence(str(checkpoints / "last.ckpt")),
        ExactResume(),
        StopOnSignal(checkpoints / "last.ckpt"),
        # Lightning refuses a learning-rate monitor without a logger (trainer.loggers=[])
        *([LearningRateMonitor(logging_interval="step")] if loggers else []),
        RecordRunIds(config, run_dir),
        NothingTrained(config),  # before outputs: nothing is exported from a run of no step
        outputs,
        ExtendOnResume(config.optimizer.extend),  # after the scale line of outputs
        EpochLines(),
    ]
    if trainer_config.progress_bar:
        callbacks.append(RunProgressBar(refresh_rate=1))
    try:
        return _trainer(config, run_dir, callbacks, loggers)
    except (MisconfigurationException, ImportError, ValueError, TypeError, RuntimeError) as error:
        raise refused_setting(error, trainer_config) from None


def _trainer(
    config: SimCLRConfig, run_dir: Path, callbacks: list[Callback], loggers: list
) -> L.Trainer:
    trainer_config = config.trainer
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=trainer_config.max_epochs,
        max_steps=trainer_config.max_steps,
        accelerator=trainer_config.accelerator,
        devices=trainer_config.devices,
        num_nodes=trainer_config.num_nodes,
        strategy=trainer_config.strategy,
        precision=resolved_precision(trainer_config),
        sync_batchnorm=sync_batchnorm(trainer_config),
        log_every_n_steps=trainer_config.log_every_n_steps,
        check_val_every_n_epoch=trainer_config.val_every_n_epochs,
        limit_val_batches=_fraction_or_count(trainer_config.limit_val_batches),
        num_sanity_val_steps=0,
        enable_progress_bar=trainer_config.progress_bar,
        enable_model_summary=False,
        use_distributed_sampler=False,  # simclr.data.sampling deals the images to the processes
        callbacks=callbacks,
        logger=loggers,
    )


class NothingTrained(Callback):
    """Ends a run whose first epoch made no optimizer step (every image of it unreadable)
    before anything is exported: an untrained encoder.pt would pass for a trained one."""

    def __init__(self, config: SimCLRConfig) -> None:
        data = config.data
        self.source = f"data.path={data.path}" if data.path else f"data.name={data.name}"
        self._start_step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start_step = trainer.global_step

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step == self._start_step:
            raise DataError(
                f"{self.source}: an epoch went by without one readable batch (every image "
                "was skipped as unreadable), so nothing was trained and nothing exported"
            )


def _fraction_or_count(value: float) -> float | int:
    """Lightning reads a float as a fraction and an int as a count of batches."""
    return int(value) if value > 1 else value


def _finished_before_requeue(
    run_dir: Path, checkpoint: Path | None, config: SimCLRConfig
) -> PretrainSummary | None:
    """A requeued SLURM job whose run had already finished: its summary, with nothing done."""
    summary = run_dir / "summary.json"
    if checkpoint is None or not summary.is_file():
        return None
    if budget_reached(config, read_torch_file(checkpoint, "requeued run")) is None:
        return None
    if is_global_rank_zero():
        print(f"[simclr] {run_dir} finished before SLURM requeued this job: nothing to train")
    return PretrainSummary(**json.loads(summary.read_text()))


def pretrain(
    config: SimCLRConfig, resume_dir: str | Path | None = None, quiet: bool = False
) -> PretrainSummary:
    """Pretrain as ``config`` says; with ``resume_dir``, continue that run from its last.ckpt.

    Every process of a multi-device run calls this (Lightning's ddp launcher and torchrun run
    the command once per process); they agree on one run directory, and only global rank 0
    writes the run's files.
    """
    quiet_lightning()
    check_devices(config.trainer)
    check_logger_packages(config)  # a missing package: one line before any work
    L.seed_everything(config.run.seed, workers=True, verbose=False)
    datamodule = SimCLRDataModule(config.data, seed=config.run.seed)
    datamodule.setup("fit")  # a data error surfaces now, before anything is written
    module = SimCLR.from_config(config, num_classes=datamodule.num_classes)
    run = run_directory(config.run, resume_dir)
    if run.writer:  # a disk that fills mid-run leaves a checkpoint cut short: one line now
        check_free_space("run.out_dir", run.path, checkpoint_bytes(module))
    checkpoint = None if run.new else resume_checkpoint(run.path)
    if run.requeued:
        finished = _finished_before_requeue(run.path, checkpoint, config)
        if finished is not None:
            return finished
    outputs = RunOutputs(run.path, len(datamodule.train_set), quiet)
    probe_validated = (
        module.probe is not None
        and config.trainer.limit_val_batches > 0
        and datamodule.val_set is not None
    )
    trainer = build_trainer(config, run.path, outputs, run.writer, probe_validated)
    run.claim()
    if run.writer:
        remove_stale_temporaries(run.path)  # of an earlier process killed while writing
        save_config(config, run.path / "config.yaml")
    # the views are made in the module on purpose; the data module only hands over uint8
    warnings.filterwarnings("ignore", message=".*on_after_batch_transfer.*LightningDataModule")
    if config.data.num_workers is None and loader_workers(None, datamodule.train_set) == 0:
        # auto chose none (in-memory images, a batch is one gather): workers would not help
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint)
    except SIGTERMException:  # Lightning stopped between steps; StopOnSignal saved last.ckpt
        stop = next(c for c in trainer.callbacks if isinstance(c, StopOnSignal))
        raise stop.interrupted(trainer, "SIGTERM") from None
    except RuntimeError as error:
        if trainer.world_size > 1 and is_lost_process(error):  # not gloo's traceback: one line
            raise lost_process(trainer.global_rank, trainer.world_size, run.path) from None
        raise
    finally:
        finish_runs(trainer.loggers)
    # under ddp_spawn this process did not train: the spawned rank 0 wrote the summary
    summary = outputs.summary or PretrainSummary(
        **json.loads((run.path / "summary.json").read_text())
    )
    if run.writer:
        summary = record_disk(summary, run.path)
    if trainer.is_global_zero and not quiet:
        print("\n".join(["", "SimCLR pretraining finished", *summary.lines()]))
    return summary
