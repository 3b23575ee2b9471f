"""The rolling ``checkpoints/last.ckpt`` (simclr/run/checkpoints.py): every N steps, at the end."""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from simclr.errors import ConfigError
from simclr.run.checkpoints import LastCheckpoint, check_fits


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


# ----------------------------------------------------------------------------- check_fits


def _checkpoint_before_composition() -> dict:
    """A checkpoint shaped as ``simclr pretrain`` wrote them before the module composed its
    blocks (names and shapes recorded then), holding zeros."""
    import json

    recorded = Path(__file__).parents[1] / "checkpoint_before_composition.json"
    before = json.loads(recorded.read_text())
    weights = {name: torch.zeros(shape) for name, shape in before["state_dict"].items()}
    return {"state_dict": weights, "hyper_parameters": {"config": {}, "num_classes": 10}}


def test_a_checkpoint_written_before_composition_fits(make_config) -> None:
    check_fits(_checkpoint_before_composition(), make_config("encoder.name=resnet18"), "old")


def test_a_checkpoint_of_another_program_is_refused_in_one_line(make_config) -> None:
    foreign = {"state_dict": {"weight": torch.zeros(2)}, "hyper_parameters": {"lr": 1}}
    with pytest.raises(ConfigError, match=r"^last.ckpt: not a simclr pretraining checkpoint"):
        check_fits(foreign, make_config(), "last.ckpt")


def test_a_checkpoint_of_another_architecture_is_refused_naming_the_weights(make_config) -> None:
    with pytest.raises(ConfigError) as error:
        check_fits(_checkpoint_before_composition(), make_config("encoder.name=resnet34"), "x")
    message = str(error.value)
    assert "\n" not in message and message.startswith("x: its weights do not fit")
    assert "missing encoder.backbone.layer1.2.conv1.weight" in message  # resnet34 has 3 blocks
    wider = make_config("encoder.name=resnet18", "head.projection_dim=64")
    with pytest.raises(ConfigError, match=r"head\.net\.\S+ is \(128, 512\), not \(64, 512\)"):
        check_fits(_checkpoint_before_composition(), wider, "x")
