"""Pretraining with ``trainer.chunk_size`` (simclr/module.py, simclr/chunked.py): a run in
chunks takes the steps of the run without, through Lightning's manual optimization (LARS, the
warm-up/cosine schedule, the probe, checkpoints, resume), and draws nothing random twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from simclr.config import ConfigError
from simclr.run.resume import resume_config
from simclr.run.train import pretrain
from tests.simclr.runs import CtrlCAtStep

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers).*"),
    pytest.mark.filterwarnings("ignore:.*(checkpoint|mid-epoch|restart).*"),
]

STEPS = 4
EXACT = ["trainer.precision=32-true", f"trainer.max_steps={STEPS}", "trainer.max_epochs=1"]


class Record(Callback):
    """Per step: the logged loss, the learning rate and a digest of torch's random state after
    the step (the views of the next batch are drawn from it); optionally BatchNorm held at its
    running statistics, so that chunks cannot change the batch statistics."""

    def __init__(self, hold_batchnorm: bool) -> None:
        self.hold_batchnorm = hold_batchnorm
        self.steps: list[tuple[float, float, str]] = []
        self.after_first: dict[str, torch.Tensor] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        for layer in pl_module.modules():
            if self.hold_batchnorm and isinstance(layer, nn.modules.batchnorm._BatchNorm):
                layer.eval()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        state = hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        self.steps.append((float(trainer.callback_metrics["train/loss"]), lr, state))
        if not self.after_first:  # later steps amplify float32 rounding: a layout change too
            self.after_first = {k: v.clone() for k, v in pl_module.state_dict().items()}


def run(synthetic, extra_callbacks, name: str, *overrides: str, hold: bool = True):
    record = Record(hold_batchnorm=hold)
    extra_callbacks(record)
    summary = pretrain(synthetic.pretrain_config(*overrides, f"run.name={name}"), quiet=True)
    weights = torch.load(Path(summary.run_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    return record, weights["state_dict"], summary


@pytest.mark.parametrize("chunk_size", [2, 3])  # 3: chunks of 3, 3 and 2 of the batch of 8
def test_a_run_in_chunks_takes_the_steps_of_the_run_without(
    synthetic, extra_callbacks, chunk_size: int
) -> None:
    whole, _, _ = run(synthetic, extra_callbacks, "whole", *EXACT)
    chunked, _, summary = run(
        synthetic, extra_callbacks, "chunked", *EXACT, f"trainer.chunk_size={chunk_size}"
    )
    assert summary.global_step == STEPS and len(chunked.steps) == STEPS
    for (loss, lr, state), (chunk_loss, chunk_lr, chunk_state) in zip(whole.steps, chunked.steps):
        assert chunk_loss == pytest.approx(loss, rel=1e-5)
        assert chunk_lr == lr  # the schedule stepped once a step
        assert chunk_state == state  # the same views, and nothing random ran twice
    weights, chunked_weights = whole.after_first, chunked.after_first
    assert chunked_weights.keys() == weights.keys() and "probe.weight" in weights
    for name, value in weights.items():  # f, g and the online probe, after one step
        torch.testing.assert_close(chunked_weights[name], value, rtol=1e-5, atol=1e-7, msg=name)


def test_a_run_in_chunks_with_batchnorm_training_and_bf16_trains(
    synthetic, extra_callbacks
) -> None:
    """BatchNorm per chunk and bf16-mixed: not the same steps, but a run that learns."""
    settings = ["trainer.precision=bf16-mixed", "trainer.max_epochs=3", "trainer.chunk_size=4"]
    record, weights, summary = run(synthetic, extra_callbacks, "bf16", *settings, hold=False)
    assert summary.global_step == 24
    losses = [loss for loss, _, _ in record.steps]
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4
    tracked = weights["encoder.backbone.bn1.num_batches_tracked"]
    assert int(tracked) == 48  # the running statistics: once a chunk (2 of 4 in a batch of 8)


def test_the_chunks_that_update_the_running_statistics_are_a_setting(synthetic) -> None:
    from simclr.module import SimCLR

    for choice in ("every_chunk", "last_chunk"):
        config = synthetic.pretrain_config(f"trainer.chunk_running_stats={choice}")
        assert SimCLR.from_config(config).chunk_running_stats == choice
    with pytest.raises(ConfigError, match="trainer.chunk_running_stats='every_step' is invalid"):
        synthetic.pretrain_config("trainer.chunk_running_stats=every_step")


def test_a_run_in_chunks_interrupted_and_resumed_is_the_run_never_interrupted(
    synthetic, extra_callbacks
) -> None:
    from simclr.run.preemption import TrainingInterrupted

    settings = ["trainer.precision=32-true", "trainer.max_epochs=2", "trainer.chunk_size=4"]
    _, whole, _ = run(synthetic, extra_callbacks, "whole", *settings, hold=False)
    extra_callbacks(CtrlCAtStep(5))
    config = synthetic.pretrain_config(*settings, "run.name=cut")
    with pytest.raises(TrainingInterrupted):
        pretrain(config, quiet=True)
    extra_callbacks()
    run_dir = synthetic.tmp_path / "cut"
    summary = pretrain(resume_config(run_dir), resume_dir=run_dir, quiet=True)
    assert summary.global_step == 16
    resumed = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for name, value in whole.items():
        assert torch.equal(resumed[name], value), name


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("0", "must be null or >= 1"), ("-2", "must be null or >= 1"), ("9", "at most data.batch")],
)
def test_a_bad_chunk_size_is_one_line_before_any_work(synthetic, value, allowed) -> None:
    with pytest.raises(ConfigError, match=f"trainer.chunk_size={value} is invalid: .*{allowed}"):
        synthetic.pretrain_config(f"trainer.chunk_size={value}")


@pytest.mark.parametrize(("before", "after"), [("null", "4"), ("4", "null")])
def test_a_run_resumed_with_chunks_set_or_unset_continues_its_steps(
    synthetic, before: str, after: str
) -> None:
    """Lightning counts the steps of a run in chunks (manual optimization) apart from the
    others; the count carries over, so the schedule and the budget go on from the same step."""
    settings = ["trainer.max_epochs=2", "trainer.max_steps=5", "run.name=switch"]
    config = synthetic.pretrain_config(*settings, f"trainer.chunk_size={before}")
    assert pretrain(config, quiet=True).global_step == 5
    run_dir = synthetic.tmp_path / "switch"
    overrides = ["trainer.max_steps=9", f"trainer.chunk_size={after}"]
    summary = pretrain(resume_config(run_dir, overrides), resume_dir=run_dir, quiet=True)
    assert summary.global_step == 9
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 9
    assert checkpoint["lr_schedulers"][0]["last_epoch"] == 9  # one schedule step a step


def test_a_wide_cifar_resnet_trains_in_chunks_and_is_read_back(synthetic) -> None:
    """The ResNet paper's ResNet-20 at width 2 (h 128-d) with option B, pretrained in chunks:
    every BatchNorm, the projections' included, kept its running statistics once a chunk, and
    the exported encoder.pt gives the checkpoint's f."""
    from simclr.run.pretrained import load_encoder
    from simclr.small_resnets import CifarResNet

    settings = ["encoder.name=cifar_resnet20", "encoder.width=2", "encoder.shortcut=B"]
    settings += ["trainer.chunk_size=4", "trainer.max_steps=3", "trainer.log_every_n_steps=1"]
    settings.append("run.name=cifar")
    summary = pretrain(synthetic.pretrain_config(*settings), quiet=True)
    assert summary.global_step == 3
    run_dir = Path(summary.run_dir)
    weights = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    tracked = {k: int(v) for k, v in weights.items() if k.endswith("num_batches_tracked")}
    assert "encoder.backbone.layer3.0.shortcut.1.num_batches_tracked" in tracked
    assert len(tracked) == 1 + 9 * 2 + 2 + 1  # stem, 9 blocks of 2, 2 projections, g's BN
    assert set(tracked.values()) == {6}  # 2 chunks of 4 in a batch of 8, 3 steps
    exported = load_encoder(run_dir)  # its encoder.pt and encoder.yaml
    checkpointed = load_encoder(run_dir / "checkpoints" / "last.ckpt")
    assert isinstance(exported, CifarResNet) and exported.feature_dim == 128
    images = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = exported(images)
        assert torch.equal(h, checkpointed(images)) and h.shape == (3, 128)
