"""End-to-end pretraining on real Fashion-MNIST (simclr/train.py): loss, artifacts, resume."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import lightning as L
import pytest
import torch
import torchvision
from omegaconf import OmegaConf
from torch import nn

from simclr.config import ConfigError, SimCLRConfig, load_config
from simclr.data import load_split
from simclr.loss import nt_xent_loss
from simclr.module import SimCLR
from simclr.train import PretrainSummary, pretrain, resume_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers).*"),
    pytest.mark.filterwarnings("ignore:.*(checkpoint|mid-epoch|restart).*"),
]

FIRST_STEPS, RESUMED_STEPS = 20, 26  # 16 steps an epoch: 512 images in batches of 32
BATCH = 32


def run_config(out_dir: Path, data_root: Path, *overrides: str) -> SimCLRConfig:
    return load_config(
        None,
        [
            "data.name=fashion_mnist",
            f"data.root={data_root}",
            "data.download=false",
            "data.subset=512",
            "data.val_subset=256",
            f"data.batch_size={BATCH}",
            "data.image_size=28",
            "data.num_workers=0",
            "encoder.name=resnet18",
            "encoder.stem=standard",
            "trainer.accelerator=cpu",
            "trainer.devices=1",
            "trainer.max_epochs=100",
            f"trainer.max_steps={FIRST_STEPS}",
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
            *overrides,
        ],
    )


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


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory, fashion_mnist_root: Path
) -> tuple[SimCLRConfig, PretrainSummary, Path]:
    """A pretraining run of FIRST_STEPS optimizer steps, shared by the tests below."""
    out_dir = tmp_path_factory.mktemp("runs")
    config = run_config(out_dir, fashion_mnist_root)
    summary = pretrain(config, quiet=True)
    return config, summary, Path(summary.run_dir)


def test_pretraining_lowers_the_loss(first_run) -> None:
    _, summary, run_dir = first_run
    losses = [value for _, value in logged(run_dir, 0, "train/loss")]
    assert len(losses) == FIRST_STEPS
    first, last = sum(losses[:4]) / 4, sum(losses[-8:]) / 8
    assert last < first, (first, last)
    assert summary.final_loss == pytest.approx(losses[-1], rel=1e-5)
    assert summary.global_step == FIRST_STEPS
    assert summary.images_seen == FIRST_STEPS * BATCH
    assert summary.probe_accuracy is not None and 0 <= summary.probe_accuracy <= 1


def test_trained_encoder_has_a_lower_loss_on_fixed_views(first_run) -> None:
    config, _, run_dir = first_run
    L.seed_everything(config.run.seed, verbose=False)
    initial = SimCLR(config, num_classes=10)  # the weights the run started from
    trained = SimCLR(config, num_classes=10)
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
    config, summary, run_dir = first_run
    for name in ("checkpoints/last.ckpt", "encoder.pt", "encoder.yaml", "config.yaml"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "epoch000.ckpt").is_file()  # after the first epoch
    assert json.loads((run_dir / "summary.json").read_text())["global_step"] == FIRST_STEPS
    assert load_config(run_dir / "config.yaml") == config
    assert OmegaConf.to_container(OmegaConf.load(run_dir / "encoder.yaml")) == {
        "name": "resnet18",
        "stem": "standard",
        "in_channels": 1,
        "residual": True,
        "feature_dim": 512,
    }


def test_exported_encoder_loads_into_torchvision(first_run) -> None:
    _, _, run_dir = first_run
    state = torch.load(run_dir / "encoder.pt", weights_only=True)
    model = torchvision.models.resnet18()
    model.fc = nn.Identity()
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.load_state_dict(state, strict=True)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    prefix = "encoder.backbone."
    trained = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    assert trained.keys() == state.keys()
    assert all(torch.equal(trained[k], state[k]) for k in state)
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 512)


def test_a_new_run_in_an_existing_run_dir_is_refused(first_run) -> None:
    config, _, run_dir = first_run
    before = fingerprint(run_dir)
    with pytest.raises(ConfigError, match="already holds a run"):
        pretrain(config, quiet=True)
    assert fingerprint(run_dir) == before


def test_resume_continues_the_global_step(first_run) -> None:
    _, _, run_dir = first_run
    config = resume_config(run_dir, [f"trainer.max_steps={RESUMED_STEPS}"])
    summary = pretrain(config, resume_dir=run_dir, quiet=True)
    assert summary.global_step == RESUMED_STEPS
    steps = [step for step, _ in logged(run_dir, 1, "train/loss")]
    # the resumed run logged only the steps after the first run's, not a restart from 0
    assert len(steps) == RESUMED_STEPS - FIRST_STEPS
    assert min(steps) >= FIRST_STEPS - 1
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == RESUMED_STEPS


def test_a_folder_run_counts_the_unreadable_images_it_skipped(tmp_path: Path, capsys) -> None:
    from PIL import Image

    from simclr.cli import main

    images = tmp_path / "images"
    images.mkdir()
    for index in range(15):
        Image.new("RGB", (12, 12), (index * 16, 0, 0)).save(images / f"{index}.png")
    (images / "broken.png").write_bytes(b"not an image")  # 16 files: 4 full batches of 4
    argv = [
        "pretrain",
        "data.name=folder",
        f"data.path={images}",
        "data.image_size=8",
        "data.batch_size=4",
        "data.num_workers=0",
        "encoder.stem=small",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.max_epochs=2",
        "trainer.progress_bar=false",
        f"run.out_dir={tmp_path}",
        "run.name=folder",
    ]
    with pytest.warns(UserWarning, match="broken.png"):
        assert main(argv) == 0
    summary = json.loads((tmp_path / "folder" / "summary.json").read_text())
    assert summary["skipped_images"] == 2 and summary["training_images"] == 16  # once an epoch
    assert "skipped              2 unreadable of 16 images" in capsys.readouterr().out
