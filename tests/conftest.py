"""Fixtures every test folder shares: small configs, seeded RNG, real Fashion-MNIST, and a
synthetic labelled dataset registered by name with run directories trained on nothing.

Fixtures that only one package's tests use live in that folder's ``conftest.py``. What the
layers above ``simclr.data`` provide (the LightningModule, evaluation configs) is imported where a
fixture uses it, so collecting the core tests loads neither Lightning nor ``linear_eval``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

from simclr.config import SimCLRConfig, load_config, save_config
from simclr.data.images import ArrayImages
from simclr.data.readers import FASHION_MNIST_SYSTEM_DIR
from simclr.data.registry import DATASETS, DatasetSpec

if TYPE_CHECKING:
    from linear_eval.config import EvalConfig

# the property tests: a fixed example budget and a fixed seed, so CI is fast and reproducible
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker takes its share of the cores, as do the processes it
    starts: 2 workers of 2 threads each on 2 cores spin against each other."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere every core
        cores = len(affinity(0)) if affinity else os.cpu_count() or 1
        threads = max(1, cores // int(workers))
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


# small and offline: nothing in a unit test downloads, spawns workers or draws a progress bar
TINY_OVERRIDES = [
    "data.image_size=16",
    "data.batch_size=8",
    "data.num_workers=0",
    "data.download=false",
    "trainer.progress_bar=false",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
]


@pytest.fixture
def seeded() -> None:
    """torch's global RNG at a fixed state, for tests that draw random data."""
    torch.manual_seed(0)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., SimCLRConfig]:
    """``make_config("key=value", ...)``: a validated tiny config whose runs go under tmp_path."""

    def make(*overrides: str) -> SimCLRConfig:
        base = [*TINY_OVERRIDES, f"data.root={tmp_path / 'data'}", f"run.out_dir={tmp_path}"]
        return load_config(None, [*base, *overrides])

    return make


@pytest.fixture(scope="session")
def fashion_mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data.root holding the system's Fashion-MNIST, extracted once per session."""
    if not FASHION_MNIST_SYSTEM_DIR.is_dir():
        pytest.skip(f"{FASHION_MNIST_SYSTEM_DIR} is absent (Debian package dataset-fashion-mnist)")
    return tmp_path_factory.mktemp("fashion_mnist_root")


class FashionMnistFolder(NamedTuple):
    """Fashion-MNIST images written as PNG files in the ImageNet layout: ``path/train/CLASS/``
    holds the seeded ``subset_indices(60000, 200, 0)`` of the IDX training split,
    ``path/val/CLASS/`` the seeded ``subset_indices(10000, 100, 0)`` of its test split (what
    ``data.subset=200`` and ``data.val_subset=100`` read under seed 0). Class folders
    ``0_T-shirt-top`` ... ``9_Ankle boot`` sort in label order: class index = label."""

    path: Path
    root: Path  # the data.root its IDX files are read from
    classes: list[str]
    counts: dict[str, int]


@pytest.fixture(scope="session")
def fashion_mnist_folder(
    fashion_mnist_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> FashionMnistFolder:
    """Fashion-MNIST as an ImageNet-layout folder, written once per session."""
    from PIL import Image

    from simclr.data.readers import read_fashion_mnist
    from simclr.data.splits import subset_indices

    path = tmp_path_factory.mktemp("fashion_mnist_folder")
    counts = {"train": 200, "val": 100}
    classes: list[str] = []
    for split, read, count in [("train", "train", 200), ("val", "test", 100)]:
        dataset = read_fashion_mnist(read, root=str(fashion_mnist_root), download=False)
        classes = [f"{i}_{name.replace('/', '-')}" for i, name in enumerate(dataset.classes)]
        for index in subset_indices(len(dataset), count, seed=0):
            image, label = dataset[index]
            folder = path / split / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[0].numpy()).save(folder / f"{index:05d}.png")
    return FashionMnistFolder(path, fashion_mnist_root, classes, counts)


@pytest.fixture
def single_thread() -> Iterator[None]:
    """One intra-op thread: tiny tensors gain nothing from more, and a busy CI machine with
    spinning OpenMP threads can make them many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Synthetic:
    """A labelled dataset registered as ``synthetic_eval``: class c is a bright quadrant c on
    noise (easy to tell apart, even from raw pixels), 64 training and 32 test images of 16 px.
    Read by the code under test exactly as a real dataset, without files or downloads."""

    name = "synthetic_eval"
    classes = 4
    size = 16
    counts = {"train": 64, "test": 32}
    pretrain_overrides = [
        f"data.name={name}",
        f"data.image_size={size}",
        "data.batch_size=8",
        "data.num_workers=0",
        "data.download=false",
        "encoder.stem=small",
        "trainer.progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
    ]
    eval_overrides = [
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

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    @classmethod
    def images(cls, split: str) -> ArrayImages:
        generator = np.random.default_rng(0 if split == "train" else 1)
        count = cls.counts[split]
        labels = np.arange(count) % cls.classes
        images = generator.integers(0, 60, (count, 1, cls.size, cls.size), dtype=np.uint8)
        half = cls.size // 2
        for row, label in enumerate(labels):
            top, left = (label // 2) * half, (label % 2) * half
            images[row, :, top : top + half, left : left + half] += 150
        names = [f"class{c}" for c in range(cls.classes)]
        return ArrayImages(torch.from_numpy(images), torch.from_numpy(labels), names)

    @classmethod
    def spec(cls) -> DatasetSpec:
        return DatasetSpec(
            read=lambda split, **_: cls.images(split),
            channels=1,
            mean=(0.3,),
            std=(0.3,),
            held_out_from=None,  # no validation split unless spec_with_val
            held_out_within=(),
        )

    @classmethod
    def spec_with_val(cls) -> DatasetSpec:
        """The same dataset holding a validation split out of train (data.val_fraction)."""
        return dataclasses.replace(cls.spec(), held_out_from="train", held_out_within=("train",))

    def pretrain_config(self, *overrides: str) -> SimCLRConfig:
        base = [f"data.root={self.tmp_path / 'data'}", f"run.out_dir={self.tmp_path}"]
        return load_config(None, [*self.pretrain_overrides, *base, *overrides])

    def eval_config(self, pretrain: SimCLRConfig | None, *overrides: str) -> EvalConfig:
        from linear_eval.config import load_eval_config

        return load_eval_config(pretrain, None, [*self.eval_overrides, *overrides])

    def make_run(self, name: str = "run", seed: int = 0) -> Path:
        """A run dir as ``simclr pretrain`` leaves it, with untrained (seeded) weights."""
        return write_run(self.pretrain_config(), self.tmp_path / name, self.classes, seed)


def write_run(config: SimCLRConfig, run_dir: Path, num_classes: int, seed: int = 0) -> Path:
    """A run dir of ``config`` as ``simclr pretrain`` leaves it, with untrained (seeded)
    weights: its config, exported encoder and last checkpoint."""
    from simclr.module import SimCLR

    torch.manual_seed(seed)
    return save_run(SimCLR.from_config(config, num_classes=num_classes), config, run_dir)


def save_run(module: torch.nn.Module, config: SimCLRConfig, run_dir: Path) -> Path:
    """``module`` (a SimCLR of ``config``) saved in ``run_dir`` as ``simclr pretrain`` leaves a
    run: its config, exported encoder and last checkpoint."""
    from simclr.run.export import export_encoder

    (run_dir / "checkpoints").mkdir(parents=True)
    save_config(config, run_dir / "config.yaml")
    export_encoder(module, run_dir)
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    torch.save(checkpoint, run_dir / "checkpoints" / "last.ckpt")
    return run_dir


@pytest.fixture
def synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Synthetic:
    """The synthetic dataset, registered in ``DATASETS`` for this test only."""
    monkeypatch.setitem(DATASETS, Synthetic.name, Synthetic.spec())
    return Synthetic(tmp_path)


@pytest.fixture
def run_dir(synthetic: Synthetic) -> Path:
    """A run dir of untrained weights whose dataset is the registered synthetic one."""
    return synthetic.make_run()


@pytest.fixture
def bit_identical() -> Callable[[torch.nn.Module], Callable[[], None]]:
    """``check = bit_identical(model)`` records every parameter and buffer; ``check()`` then
    asserts that none of their bits changed."""

    def record(model: torch.nn.Module) -> Callable[[], None]:
        before = {name: t.detach().clone() for name, t in model.state_dict().items()}

        def check() -> None:
            after = model.state_dict()
            assert after.keys() == before.keys()
            for name, tensor in before.items():
                bits_after = after[name].contiguous().view(-1).view(torch.uint8)
                assert torch.equal(bits_after, tensor.contiguous().view(-1).view(torch.uint8)), name

        return check

    return record
