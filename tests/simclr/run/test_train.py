"""End-to-end pretraining (simclr/run/train.py): the loss falls, the run directory is refused twice,
a run resumes, and LARS trains through Lightning with its layer-wise trust ratio."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf
from torch import nn

import simclr.module
import simclr.run.train
from simclr.config import ConfigError, load_config, save_config
from simclr.data.splits import load_split
from simclr.errors import DataError, SimCLRError
from simclr.lars import LARS
from simclr.loss import nt_xent_loss
from simclr.module import SimCLR
from simclr.run.checkpoints import checkpoint_bytes
from simclr.run.preemption import TrainingInterrupted
from simclr.run.resume import resume_config
from simclr.run.train import pretrain
from tests.simclr.jpegs import write_jpegs, write_png, write_truncated_jpeg
from tests.simclr.runs import CtrlCAtStep

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers).*"),
    pytest.mark.filterwarnings("ignore:.*(checkpoint|mid-epoch|restart).*"),
]

RESUMED_STEPS = 26


def logged(run_dir: Path, version: int, key: str) -> list[tuple[int, float]]:
    """(step, value) of every row of the CSV log that has ``key``."""
    with open(run_dir / "csv" / f"version_{version}" / "metrics.csv") as infile:
        rows = [row for row in csv.DictReader(infile) if row.get(key)]
    return [(int(row["step"]), float(row[key])) for row in rows]


def fingerprint(run_dir: Path) -> dict[str, str]:
    return {
        str(path.relative_to(run_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file()
    }


def test_pretraining_lowers_the_loss(first_run) -> None:
    summary, run_dir = first_run.summary, first_run.run_dir
    losses = [value for _, value in logged(run_dir, 0, "train/loss")]
    assert len(losses) == first_run.steps
    first, last = sum(losses[:4]) / 4, sum(losses[-8:]) / 8
    assert last < first, (first, last)
    assert summary.final_loss == pytest.approx(losses[-1], rel=1e-5)
    assert summary.global_step == first_run.steps
    assert summary.images_seen == first_run.steps * first_run.batch
    assert summary.probe_accuracy is not None and 0 <= summary.probe_accuracy <= 1


def test_trained_encoder_has_a_lower_loss_on_fixed_views(first_run) -> None:
    config, run_dir = first_run.config, first_run.run_dir
    L.seed_everything(config.run.seed, verbose=False)
    initial = SimCLR.from_config(config, num_classes=10)  # the weights the run started from
    trained = SimCLR.from_config(config, num_classes=10)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    trained.load_state_dict(checkpoint["state_dict"])
    held_out = load_split(config.data, "test", subset=256, seed=1)
    images = torch.stack([held_out[i][0] for i in range(len(held_out))])
    torch.manual_seed(0)
    view1, view2 = initial.views(images)

    def loss(module: SimCLR) -> float:
        with torch.no_grad():
            projection = module.train().head(module.encoder(torch.cat([view1, view2])))
            return float(nt_xent_loss(projection[:256], projection[256:], 0.2)[0])

    # 256 images and the same views for both: far less noisy than single training batches
    assert loss(trained) < loss(initial) - 0.1


def test_run_directory_holds_every_artifact(first_run) -> None:
    config, run_dir = first_run.config, first_run.run_dir
    for name in ("checkpoints/last.ckpt", "encoder.pt", "encoder.yaml", "config.yaml"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "epoch000.ckpt").is_file()  # after the first epoch
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == first_run.steps
    assert load_config(run_dir / "config.yaml") == config
    assert OmegaConf.to_container(OmegaConf.load(run_dir / "encoder.yaml")) == {
        "name": "resnet18",
        "stem": "standard",
        "in_channels": 1,
        "residual": True,
        "feature_dim": 512,
    }


def test_the_disk_a_run_needs_is_known_before_it_starts(first_run) -> None:
    """The estimate covers what the run wrote (each checkpoint once, with its temporary while
    written), without asking for more than a few times it."""
    module = SimCLR.from_config(first_run.config, num_classes=10)
    checkpoints = first_run.run_dir / "checkpoints"
    last, encoder = (checkpoints / "last.ckpt").stat().st_size, first_run.run_dir / "encoder.pt"
    needed = 2 * last + (checkpoints / "best.ckpt").stat().st_size + encoder.stat().st_size
    assert needed <= checkpoint_bytes(module) <= 3 * needed


def test_a_disk_too_full_for_the_checkpoints_is_refused_before_the_run(
    synthetic, monkeypatch, capsys
) -> None:
    usage = shutil.disk_usage(synthetic.tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10**6))
    config = synthetic.pretrain_config("run.name=full")
    with pytest.raises(SimCLRError, match=r"^run.out_dir .*full: needs .* free, .*disk full"):
        pretrain(config, quiet=True)
    assert not (synthetic.tmp_path / "full").exists()


def test_a_new_run_in_an_existing_run_dir_is_refused(first_run) -> None:
    before = fingerprint(first_run.run_dir)
    with pytest.raises(ConfigError, match="already holds a run"):
        pretrain(first_run.config, quiet=True)
    assert fingerprint(first_run.run_dir) == before


def test_resume_continues_the_global_step(first_run, tmp_path: Path) -> None:
    run_dir = first_run.run_dir
    # resumed where it is (a moved run would not refresh last.ckpt: see test_checkpoints.py),
    # then put back as it finished, for the other tests of the shared run
    shutil.copytree(run_dir, tmp_path / "finished")
    try:
        config = resume_config(run_dir, [f"trainer.max_steps={RESUMED_STEPS}"])
        summary = pretrain(config, resume_dir=run_dir, quiet=True)
        assert summary.global_step == RESUMED_STEPS
        steps = [step for step, _ in logged(run_dir, 1, "train/loss")]
        # the resumed run logged only the steps after the first run's, not a restart from 0
        assert len(steps) == RESUMED_STEPS - first_run.steps
        assert min(steps) >= first_run.steps - 1
        checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
        assert checkpoint["global_step"] == RESUMED_STEPS
    finally:
        shutil.rmtree(run_dir)
        shutil.copytree(tmp_path / "finished", run_dir)


def test_resume_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config.yaml there"):
        resume_config(tmp_path)


# ----------------------------------------------------------------------------- LARS


class FirstStep(Callback):
    """Every parameter and gradient just before the first optimizer step, and the parameters
    just after it, with the optimizer that made it."""

    def __init__(self) -> None:
        self.optimizer = None
        self.learning_rates: list[float] = []
        self.before: dict[str, torch.Tensor] = {}
        self.gradients: dict[str, torch.Tensor] = {}
        self.after: dict[str, torch.Tensor] = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step == 0:
            self.optimizer = trainer.optimizers[0]
            self.learning_rates = [group["lr"] for group in optimizer.param_groups]
            for name, param in pl_module.named_parameters():
                self.before[name] = param.detach().double().clone()
                self.gradients[name] = param.grad.detach().double().clone()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == 1 and not self.after:
            self.after = {n: p.detach().double().clone() for n, p in pl_module.named_parameters()}


def kinds_of_parameters(module: SimCLR) -> dict[str, str]:
    """By layer type, as SimCLR states it (appendix B.1): the weights of f's and g's
    convolutions and linear layers are adapted by LARS; biases and BatchNorm are not; the
    online probe has its own learning rate."""
    kinds = {}
    for prefix, layer in module.named_modules():
        for name, _ in layer.named_parameters(recurse=False):
            full = f"{prefix}.{name}"
            if prefix.startswith("probe"):
                kinds[full] = "probe"
            elif isinstance(layer, (nn.Conv2d, nn.Linear)) and name == "weight":
                kinds[full] = "adapted"
            else:
                kinds[full] = "excluded"
    return kinds


def test_lars_trains_through_lightning_with_a_layer_wise_trust_ratio(
    synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    lr, eta, decay, probe_lr = 0.5, 0.02, 0.01, 0.1
    config = synthetic.pretrain_config(
        "optimizer.name=lars",
        f"optimizer.base_lr={lr}",
        "optimizer.lr_scaling=none",
        "optimizer.warmup_epochs=0",  # the first step runs at the peak learning rate
        f"optimizer.trust_coefficient={eta}",
        f"optimizer.weight_decay={decay}",
        f"probe.lr={probe_lr}",
        "trainer.max_steps=2",
        "run.name=lars",
    )
    recorder = FirstStep()
    build_trainer = simclr.run.train.build_trainer

    def build_trainer_with_recorder(*args, **kwargs) -> L.Trainer:
        trainer = build_trainer(*args, **kwargs)
        trainer.callbacks.append(recorder)
        return trainer

    monkeypatch.setattr(simclr.run.train, "build_trainer", build_trainer_with_recorder)
    summary = pretrain(config, quiet=True)

    assert isinstance(recorder.optimizer, LARS)
    assert recorder.learning_rates == pytest.approx([lr, lr, probe_lr])
    run_dir = Path(summary.run_dir)
    assert summary.global_step == 2 and run_dir == synthetic.tmp_path / "lars"
    for name in ("config.yaml", "encoder.pt", "encoder.yaml", "summary.json"):
        assert (run_dir / name).is_file(), name
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2
    assert load_config(run_dir / "config.yaml").optimizer.name == "lars"

    kinds = kinds_of_parameters(SimCLR.from_config(config, num_classes=synthetic.classes))
    assert set(kinds) == set(recorder.before) == set(recorder.after)
    adapted_ratios, gradient_scales = [], []
    for name, kind in kinds.items():
        w, g, w_next = recorder.before[name], recorder.gradients[name], recorder.after[name]
        step = (w - w_next).norm()
        if kind == "adapted":
            # the first step has an empty momentum buffer: w' = w - lr * eta * ||w|| * u / ||u||
            # with u = g + decay * w, so the step is lr * eta of ||w||, whatever ||g|| is
            update = g + decay * w
            gradient_scales.append(float(update.norm() / w.norm()))
            adapted_ratios.append(float(step / w.norm()))
            expected = w - lr * eta * w.norm() * update / update.norm()
            torch.testing.assert_close(w_next, expected, rtol=0, atol=1e-4 * float(step), msg=name)
        else:  # plain SGD: w' = w - lr * g, without weight decay
            group_lr = probe_lr if kind == "probe" else lr
            torch.testing.assert_close(w_next, w - group_lr * g, rtol=0, atol=1e-6, msg=name)
    assert adapted_ratios == pytest.approx([lr * eta] * len(adapted_ratios), rel=1e-4)
    # relative to their weights, the layers' gradients differ many times over; their steps do not
    assert max(gradient_scales) / min(gradient_scales) > 5
    assert len(adapted_ratios) > 20


def test_pretraining_decodes_a_folders_jpeg_files_on_the_device(
    make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "images"
    train = write_jpegs(folder / "train" / "a")  # 6 JPEGs, a PNG and a corrupt JPEG: one batch
    write_png(folder / "train" / "b" / "png.png")
    truncated = write_truncated_jpeg(folder / "train" / "b" / "truncated.jpg")
    val = write_jpegs(folder / "val" / "a", seed=20)
    write_png(folder / "val" / "b" / "png.png")
    decoded: list[str] = []

    def recording(batch):
        decoded.extend(batch.files)
        return decode_batch(batch)

    decode_batch = simclr.module.decode_batch
    monkeypatch.setattr(simclr.module, "decode_batch", recording)
    config = make_config(
        "data.name=folder",
        f"data.path={folder}",
        "data.decode=device",
        "data.num_workers=1",  # the batch crosses from a worker process, as in a real run
        "trainer.max_epochs=2",
        "trainer.max_steps=2",
        "trainer.loggers=[]",
        "run.name=jpegs",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = pretrain(config, quiet=True)
    assert summary.global_step == 2 and math.isfinite(summary.final_loss)
    # the corrupt file, read in each of the two one-batch epochs, was left out and counted
    assert summary.skipped_images == 2
    assert sum(f"skipping unreadable image {truncated}" in str(w.message) for w in caught) >= 2
    assert set(decoded) == {str(p) for p in [*train, truncated, *val]}  # validation's too


# ----------------------------------------------------------------------------- SLURM requeue


def test_a_requeued_slurm_job_continues_its_own_run(
    synthetic, extra_callbacks, monkeypatch, capsys
) -> None:
    """SLURM starts a requeued job again with the same command: it must continue the run it
    began (from last.ckpt), not be refused as a second run, and do nothing once finished."""
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_NAME", "pretrain")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    config = synthetic.pretrain_config("trainer.max_epochs=2", "run.name=job")
    extra_callbacks(CtrlCAtStep(3))
    with pytest.raises(TrainingInterrupted):  # preempted
        pretrain(config, quiet=True)
    extra_callbacks()

    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    summary = pretrain(config, quiet=True)
    assert summary.global_step == 16
    assert "[simclr] resumed at step 4 of 16" in capsys.readouterr().out

    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")  # requeued again after it finished
    before = fingerprint(Path(summary.run_dir))
    assert pretrain(config, quiet=True) == summary
    assert "finished before SLURM requeued this job" in capsys.readouterr().out
    assert fingerprint(Path(summary.run_dir)) == before

    monkeypatch.setenv("SLURM_JOB_ID", "9999")  # another job: the run is not its own
    with pytest.raises(ConfigError, match="already holds a run"):
        pretrain(config, quiet=True)


class RecordBatches(Callback):
    """What each step trains on: a digest of its images and of the random state its views are
    drawn from, by global step."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[str, str]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        images = hashlib.sha256(batch[0].contiguous().numpy().tobytes()).hexdigest()
        state = hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()
        self.seen[trainer.global_step] = (images, state)


def test_a_run_stopped_by_max_steps_mid_epoch_goes_on_in_that_epochs_order(
    synthetic, extra_callbacks
) -> None:
    """Stopped by ``trainer.max_steps`` in the middle of an epoch and given a larger one, a run
    trains the rest of that epoch in its order and with its random state: the batches and view
    draws of the run that never stopped (the schedule differs by design: see optimizer.extend)."""
    whole = RecordBatches()
    extra_callbacks(whole)
    pretrain(
        synthetic.pretrain_config("trainer.max_epochs=2", "trainer.max_steps=12", "run.name=whole"),
        quiet=True,
    )
    stopped = RecordBatches()
    extra_callbacks(stopped)
    config = synthetic.pretrain_config(
        "trainer.max_epochs=2", "trainer.max_steps=5", "run.name=stopped"
    )
    pretrain(config, quiet=True)  # 8 batches an epoch: step 5 is in the middle of the first
    run_dir = Path(config.run.out_dir) / "stopped"
    pretrain(resume_config(run_dir, ["trainer.max_steps=12"]), resume_dir=run_dir, quiet=True)
    assert sorted(stopped.seen) == list(range(12))
    assert stopped.seen == whole.seen


def test_resume_with_the_budget_already_reached_is_refused_in_one_line(first_run) -> None:
    """Lightning would end at once and leave the former outputs; the error names the setting."""
    with pytest.raises(ConfigError) as refused:
        resume_config(first_run.run_dir)
    message = str(refused.value)
    assert "at step 20" in message and "trainer.max_steps=20 ends it there" in message
    assert f"--resume {first_run.run_dir} trainer.max_steps=30" in message
    with pytest.raises(ConfigError, match=r"trainer.max_epochs=1 ends it there.*max_epochs=[2-9]"):
        resume_config(first_run.run_dir, ["trainer.max_steps=-1", "trainer.max_epochs=1"])


# ----------------------------------------------------------------------------- refused up front


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainer.devices=[0,1]", "trainer.devices"),
        ("trainer.strategy=deepspeed", "trainer.strategy"),
    ],
)
def test_a_trainer_setting_lightning_refuses_is_one_line_before_any_work(
    synthetic, override: str, key: str
) -> None:
    """A device list on CPU, a strategy whose package is missing: Lightning refuses them where
    the Trainer is built; the error names the setting and nothing is written."""
    config = synthetic.pretrain_config(override, "run.name=refused")
    with pytest.raises(ConfigError) as refused:
        pretrain(config, quiet=True)
    message = str(refused.value)
    assert message.startswith(f"{key}=") and "is refused by Lightning: " in message
    assert "\n" not in message
    assert not (synthetic.tmp_path / "refused").exists()


def test_resume_refuses_a_changed_model_or_data_before_reading_the_checkpoint(synthetic) -> None:
    """The run's config.yaml is compared first: the checkpoint here is not even readable."""
    config = synthetic.pretrain_config("run.name=saved")
    run_dir = synthetic.tmp_path / "saved"
    (run_dir / "checkpoints").mkdir(parents=True)
    save_config(config, run_dir / "config.yaml")
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"damaged")
    before = fingerprint(run_dir)
    for override, key, new, old in [
        ("head.projection_dim=64", "head.projection_dim", 64, 128),
        ("encoder.name=resnet34", "encoder.name", "'resnet34'", "'resnet18'"),
        ("data.channels=3", "data.channels", 3, None),
        ("data.image_size=32", "data.image_size", 32, config.data.image_size),
    ]:
        with pytest.raises(ConfigError) as refused:
            resume_config(run_dir, [override])
        message = str(refused.value)
        assert message.startswith(f"--resume {run_dir}: {key}={new} changes the run's model")
        assert f"({key}={old} in its config.yaml)" in message and "\n" not in message
    # an override that keeps the model reaches the checkpoint, which is then refused as damaged
    with pytest.raises(ConfigError, match="not a readable PyTorch file"):
        resume_config(run_dir, ["trainer.max_epochs=5"])
    assert fingerprint(run_dir) == before


def test_resume_of_a_run_killed_before_its_first_checkpoint_restarts_it_in_place(
    synthetic, capsys
) -> None:
    config = synthetic.pretrain_config("trainer.max_steps=2", "run.name=killed")
    run_dir = synthetic.tmp_path / "killed"
    run_dir.mkdir()
    save_config(config, run_dir / "config.yaml")  # as a run killed during its first steps
    with pytest.raises(ConfigError, match="already holds a run; resume it"):
        pretrain(config, quiet=True)
    resumed = resume_config(run_dir, ["trainer.max_steps=3"])
    assert f"[simclr] {run_dir} holds no checkpoint yet: restarting it from step 0" in (
        capsys.readouterr().out
    )
    assert resumed.trainer.max_steps == 3 and resumed.head == config.head
    summary = pretrain(resumed, resume_dir=run_dir, quiet=True)
    assert summary.global_step == 3 and (run_dir / "encoder.pt").is_file()


def test_a_folder_of_unreadable_images_is_refused_before_any_export(make_config, tmp_path) -> None:
    folder = tmp_path / "images"
    for split in ("train", "val"):
        for index in range(8):
            write_truncated_jpeg(folder / split / "a" / f"{index}.jpg", seed=index)
    config = make_config(
        "data.name=folder", f"data.path={folder}", "trainer.loggers=[]", "run.name=unreadable"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as refused:
            pretrain(config, quiet=True)
    message = str(refused.value)
    assert message.startswith(f"data.path={folder}: ") and "nothing exported" in message
    run_dir = tmp_path / "unreadable"
    assert not (run_dir / "encoder.pt").exists() and not (run_dir / "summary.json").exists()


def test_a_lost_process_of_a_distributed_run_ends_the_survivor_in_one_line(
    synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gloo's error in a survivor (here raised by fit) becomes one line naming the rank."""

    def lost(self, *args, **kwargs):
        raise torch.distributed.DistBackendError(
            "[gloo/transport/tcp/pair.cc:598] Connection closed"
        )

    monkeypatch.setattr(L.Trainer, "fit", lost)
    monkeypatch.setattr(L.Trainer, "world_size", property(lambda self: 2))
    config = synthetic.pretrain_config("run.name=ranks")
    with pytest.raises(SimCLRError) as ended:
        pretrain(config, quiet=True)
    run_dir = synthetic.tmp_path / "ranks"
    assert str(ended.value) == (
        "rank 1 of this 2-process run died (its connection closed), so rank 0 stops too; "
        f"resume with: simclr pretrain --resume {run_dir}"
    )


def test_a_run_stopped_by_max_steps_is_extended_past_its_epoch_by_a_larger_max_steps(
    synthetic,
) -> None:
    """8 steps an epoch and max_epochs=1: the run stops at step 3 by max_steps; raised to 12,
    it goes on to step 12 (into the second epoch), as a raised max_epochs would."""
    config = synthetic.pretrain_config("trainer.max_epochs=1", "trainer.max_steps=3", "run.name=s")
    first = pretrain(config, quiet=True)
    assert first.global_step == 3
    run_dir = Path(first.run_dir)
    summary = pretrain(
        resume_config(run_dir, ["trainer.max_steps=12"]), resume_dir=run_dir, quiet=True
    )
    assert summary.global_step == 12
    with pytest.raises(ConfigError, match="trainer.max_steps=12 ends it there"):
        resume_config(run_dir)
