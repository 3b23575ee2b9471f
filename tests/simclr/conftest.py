"""Fixtures only the simclr tests use: a process no launcher started, and one finished
pretraining run on real Fashion-MNIST."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from simclr.config import SimCLRConfig, load_config
from simclr.run.launch import RUN_NAME_ENV
from simclr.run.summary import PretrainSummary
from simclr.run.train import pretrain

# what torchrun, srun, Lightning's ddp launcher and a hand-started node set
LAUNCHER_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "NODE_RANK",
    "WORLD_SIZE",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_JOB_ID",
    "SLURM_JOB_NAME",
    "TORCHELASTIC_RUN_ID",
    RUN_NAME_ENV,
)


@pytest.fixture
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test starts as a process that no launcher started."""
    for variable in LAUNCHER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@dataclass(frozen=True)
class FirstRun:
    """A finished pretraining run of ``steps`` optimizer steps in batches of ``batch``."""

    config: SimCLRConfig
    summary: PretrainSummary
    run_dir: Path
    steps: int = 20  # 16 steps an epoch: 512 images in batches of 32
    batch: int = 32


@pytest.fixture(scope="session")
def first_run(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_root: Path) -> FirstRun:
    """A pretraining run on real Fashion-MNIST, shared by the end-to-end tests of the train,
    summary, export and checkpoint modules. Tests that need to change it work on a copy."""
    out_dir = tmp_path_factory.mktemp("runs")
    config = load_config(
        None,
        [
            "data.name=fashion_mnist",
            f"data.root={fashion_mnist_root}",
            "data.download=false",
            "data.subset=512",
            "data.val_subset=256",
            f"data.batch_size={FirstRun.batch}",
            "data.image_size=28",
            "data.num_workers=0",
            "encoder.name=resnet18",
            "encoder.stem=standard",
            "trainer.accelerator=cpu",
            "trainer.devices=1",
            "trainer.max_epochs=100",
            f"trainer.max_steps={FirstRun.steps}",
            "trainer.log_every_n_steps=1",
            "trainer.progress_bar=false",
            "trainer.checkpoint_every_n_epochs=1",
            # AdamW lowers the loss within a few steps at this small batch, where LARS is slow
            "optimizer.name=adamw",
            "optimizer.base_lr=0.002",
            "optimizer.lr_scaling=none",
            "optimizer.weight_decay=0",
            f"run.out_dir={out_dir}",
            "run.name=run",
        ],
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|does not have many workers).*")
        summary = pretrain(config, quiet=True)
    return FirstRun(config, summary, Path(summary.run_dir))


@pytest.fixture
def extra_callbacks(monkeypatch: pytest.MonkeyPatch):
    """``extra_callbacks(cb, ...)``: callbacks the next ``pretrain`` calls' Trainers also run
    (after the project's own, before the checkpoint callbacks)."""
    import simclr.run.train

    added: list = []
    build = simclr.run.train.build_trainer

    def with_extra(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.callbacks.extend(added)
        return trainer

    monkeypatch.setattr(simclr.run.train, "build_trainer", with_extra)

    def add(*callbacks) -> None:
        added[:] = callbacks

    return add
