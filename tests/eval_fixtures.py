"""Helpers and fixtures shared by the linear_eval tests: a synthetic dataset and a tiny run dir.

The test modules load this file with ``pytest_plugins = ["eval_fixtures"]`` (tests/conftest.py
belongs to the core tests). The dataset is registered in :data:`simclr.data.DATASETS` for one
test (``monkeypatch``), so the evaluation code reads it exactly like a real dataset, without
files or downloads. No fixture here is autouse: modules opt in with ``usefixtures``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from linear_eval.config import EvalConfig, load_eval_config
from linear_eval.linear import torch_threads
from simclr.config import SimCLRConfig, load_config, save_config
from simclr.data import DATASETS, ArrayImages, DatasetSpec
from simclr.module import SimCLR
from simclr.train import export_encoder

SYNTHETIC = "synthetic_eval"
CLASSES = 4
SIZE = 16
COUNTS = {"train": 64, "test": 32}

PRETRAIN_OVERRIDES = [
    f"data.name={SYNTHETIC}",
    f"data.image_size={SIZE}",
    "data.batch_size=8",
    "data.num_workers=0",
    "data.download=false",
    "encoder.stem=small",
    "trainer.progress_bar=false",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
]
EVAL_OVERRIDES = [
    "features.progress_bar=false",
    "features.num_workers=0",
    "features.batch_size=16",
    "features.device=cpu",
    "knn.k=[1,5,200]",
    "linear.epochs=5",
    "linear.batch_size=32",
    "linear.weight_decays=[0.0,0.001]",
    "linear.augment_epochs=1",
]


def synthetic_images(split: str) -> ArrayImages:
    """Class c is a bright quadrant c on noise: easy to tell apart, even from raw pixels."""
    generator = np.random.default_rng(0 if split == "train" else 1)
    count = COUNTS[split]
    labels = np.arange(count) % CLASSES
    images = generator.integers(0, 60, (count, 1, SIZE, SIZE), dtype=np.uint8)
    half = SIZE // 2
    for row, label in enumerate(labels):
        top, left = (label // 2) * half, (label % 2) * half
        images[row, :, top : top + half, left : left + half] += 150
    classes = [f"class{c}" for c in range(CLASSES)]
    return ArrayImages(torch.from_numpy(images), torch.from_numpy(labels), classes)


def register_synthetic(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = DatasetSpec(
        lambda config, split: synthetic_images(split),
        1,
        (0.3,),
        (0.3,),
        ("train", "test"),
        "train",
        "train",
        "test",
    )
    monkeypatch.setitem(DATASETS, SYNTHETIC, spec)


def pretrain_config(tmp_path: Path, *overrides: str) -> SimCLRConfig:
    base = [*PRETRAIN_OVERRIDES, f"data.root={tmp_path / 'data'}", f"run.out_dir={tmp_path}"]
    return load_config(None, [*base, *overrides])


def make_run(tmp_path: Path, name: str = "run", seed: int = 0) -> Path:
    """A run dir as ``simclr pretrain`` leaves it, with untrained (seeded) weights."""
    config = pretrain_config(tmp_path)
    torch.manual_seed(seed)
    module = SimCLR(config, num_classes=CLASSES)
    run_dir = tmp_path / name
    (run_dir / "checkpoints").mkdir(parents=True)
    save_config(config, run_dir / "config.yaml")
    export_encoder(module, run_dir)
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    torch.save(checkpoint, run_dir / "checkpoints" / "last.ckpt")
    return run_dir


def eval_config(pretrain: SimCLRConfig | None, *overrides: str) -> EvalConfig:
    return load_eval_config(pretrain, None, [*EVAL_OVERRIDES, *overrides])


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def assert_bit_identical(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for name, tensor in before.items():
        bits_after = after[name].contiguous().view(-1).view(torch.uint8)
        assert torch.equal(bits_after, tensor.contiguous().view(-1).view(torch.uint8)), name


def to_plain(config: object) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(config))


@pytest.fixture
def single_thread() -> Iterator[None]:
    """One intra-op thread: tiny tensors gain nothing from more, and a busy CI machine with
    spinning OpenMP threads can make them many times slower."""
    with torch_threads(1):
        yield


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run dir of untrained weights whose dataset is the registered synthetic one."""
    register_synthetic(monkeypatch)
    return make_run(tmp_path)
