"""What a run shows while it trains (simclr/run/progress.py): the bar's short names and learning
rate, and one line per epoch with its means, throughput and time left."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from simclr.run.progress import EpochLines, RunProgressBar, _clock, epoch_line


def fake_trainer(**fields) -> SimpleNamespace:
    optimizer = SimpleNamespace(param_groups=[{"lr": 0.82}, {"lr": 0.1}])  # encoder, probe
    defaults = dict(
        estimated_stepping_batches=100,
        current_epoch=1,
        max_epochs=10,
        global_step=20,
        callback_metrics={"val/probe_acc": torch.tensor(0.7314)},
        optimizers=[optimizer],
    )
    return SimpleNamespace(**{**defaults, **fields})


def test_the_epoch_line_states_means_probe_rate_throughput_and_time_left() -> None:
    means = {"train/loss": 4.12344, "train/contrastive_acc": 0.4121}
    line = epoch_line(fake_trainer(), steps=10, seconds=5.0, means=means, views_per_step=512)
    # 10 steps x 512 views in 5 s; 80 steps left at 0.5 s a step
    assert line == (
        "[simclr] epoch 2/10 (step 20/100), loss 4.1234, contrastive top-1 0.412, "
        "probe 0.731 (validation), lr 0.82, 1,024 views/s, 0:05 this epoch, 0:40 left"
    )


def test_the_epoch_line_leaves_out_what_it_does_not_know() -> None:
    trainer = fake_trainer(callback_metrics={}, optimizers=[])
    line = epoch_line(trainer, steps=0, seconds=0.0, means={}, views_per_step=512)
    assert line == "[simclr] epoch 2/10 (step 20/100)"


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0:00"), (59.6, "1:00"), (61, "1:01"), (3725, "1:02:05")]
)
def test_clock_is_minutes_and_seconds_then_hours(seconds: float, shown: str) -> None:
    assert _clock(seconds) == shown


def test_the_bar_shows_short_names_and_the_rate_without_the_version(monkeypatch) -> None:
    lightning_metrics = {"train/loss": 4.1, "train/contrastive_acc": 0.4, "v_num": 3}
    lightning_metrics["val/probe_acc"] = 0.7  # in the epoch line, not on the bar
    monkeypatch.setattr(TQDMProgressBar, "get_metrics", lambda self, t, m: dict(lightning_metrics))
    shown = RunProgressBar().get_metrics(fake_trainer(), None)
    assert shown == {"loss": 4.1, "top-1": 0.4, "lr": "0.82"}
    assert RunProgressBar().get_metrics(fake_trainer(optimizers=[]), None) == {
        "loss": 4.1,
        "top-1": 0.4,
    }


class Logged(L.LightningModule):
    """A module that logs the names a SimCLR step logs."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch, batch_index):
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train/loss", loss)
        self.log("train/contrastive_acc", torch.tensor(0.25))
        return loss

    def global_batch_size(self) -> int:
        return 4 * self.trainer.world_size

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


def test_each_epoch_ends_with_one_line_counting_views_of_the_global_batch(capsys, seeded) -> None:
    loader = DataLoader(TensorDataset(torch.randn(12, 2)), batch_size=4)  # 3 steps an epoch
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[EpochLines()],
    )
    trainer.fit(Logged(), loader)
    lines = [line for line in capsys.readouterr().out.splitlines() if "[simclr]" in line]
    assert [line.split(", ")[0] for line in lines] == [
        "[simclr] epoch 1/2 (step 3/6)",
        "[simclr] epoch 2/2 (step 6/6)",
    ]
    assert all("contrastive top-1 0.250" in line and "lr 0.5" in line for line in lines)
    assert all(", 0:00 left" in line for line in lines[1:])


def test_the_views_per_step_count_every_process(monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr(
        "simclr.run.progress.epoch_line", lambda trainer, **args: seen.update(args) or "line"
    )
    callback = EpochLines()
    trainer = fake_trainer(world_size=3, is_global_zero=True, progress_bar_callback=None)
    module = SimpleNamespace(global_batch_size=lambda: 12)  # N: 4 images on each of 3 processes
    callback.on_train_epoch_start(trainer, module)
    callback.on_train_epoch_end(trainer, module)
    assert seen["views_per_step"] == 2 * 12  # two views of each image of the global batch
