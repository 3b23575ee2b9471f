"""The rolling ``checkpoints/last.ckpt`` (simclr/run/checkpoints.py): every N steps and at the end."""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from simclr.run.checkpoints import LastCheckpoint


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def train(directory: Path, max_steps: int, every: int, resume: Path | None = None) -> list[int]:
    """The global step of ``last.ckpt`` after each save, for a run of ``max_steps`` steps."""
    saved = []

    class Recording(LastCheckpoint):
        def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
            super()._save_checkpoint(trainer, filepath)
            saved.append(torch.load(filepath, weights_only=True)["global_step"])

    trainer = L.Trainer(
        max_steps=max_steps,
        callbacks=[Recording(directory, every_n_train_steps=every)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(16, 2)), batch_size=2)
    trainer.fit(Tiny(), data, ckpt_path=resume)
    return saved


@pytest.mark.filterwarnings("ignore:.*(does not have many workers|log_every_n_steps).*")
def test_last_checkpoint_every_n_steps_and_at_the_final_step(tmp_path: Path) -> None:
    # 5 steps, saved every 3: Lightning alone would leave step 3 in last.ckpt
    assert train(tmp_path, max_steps=5, every=3) == [3, 5]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 5


@pytest.mark.filterwarnings("ignore:.*(does not have many workers|log_every_n_steps).*")
def test_a_final_step_already_saved_is_not_saved_twice(tmp_path: Path) -> None:
    assert train(tmp_path, max_steps=6, every=3) == [3, 6]


@pytest.mark.filterwarnings("ignore:.*(does not have many workers|log_every_n_steps|dirpath).*")
def test_a_moved_run_keeps_refreshing_its_last_checkpoint(tmp_path: Path) -> None:
    train(tmp_path / "first", max_steps=5, every=3)
    shutil.copytree(tmp_path / "first", tmp_path / "moved")  # the run dir moved or copied
    train(tmp_path / "moved", max_steps=8, every=3, resume=tmp_path / "moved" / "last.ckpt")
    assert sorted(path.name for path in (tmp_path / "moved").iterdir()) == ["last.ckpt"]
    assert torch.load(tmp_path / "moved" / "last.ckpt", weights_only=True)["global_step"] == 8


@pytest.mark.slow
def test_the_runs_last_checkpoint_is_its_final_step(first_run) -> None:
    # the run saves last.ckpt every 50 steps by default and stopped at step 20
    assert first_run.config.trainer.last_checkpoint_every_n_steps > first_run.steps
    last = first_run.run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == first_run.steps
