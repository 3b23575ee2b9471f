"""Where the documentation's commands run: a folder of their own, small.

The datasets keep their names and channels but become tiny in-memory ones (no download, no
disk), every command gets a budget appended (one optimizer step of 8 images of 16 px, short
probes), and the runs the pages name (``runs/my-run`` ...) are made once, by ``simclr
pretrain`` itself, and copied into each page's folder. Commands run through the real command
line, ``simclr.cli.main``, in this process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from simclr.cli import main
from simclr.data.images import ArrayImages
from simclr.data.registry import DATASETS

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
# images a split holds: label = (index // 30) % 10, so every 30th image (the image-folder page's
# recipe) gives every class
SPLIT_SIZES = {"train": 600, "test": 300}
# (channels, side) of each dataset's tiny stand-in
SHAPES = {"fashion_mnist": (1, 28), "cifar10": (3, 32), "cifar100": (3, 32), "stl10": (3, 32)}

PRETRAIN = [
    "trainer.max_steps=1",
    "data.subset=null",  # a subset the page asks for may be larger than the tiny split
    "data.image_size=16",
    "data.batch_size=8",
    "data.num_workers=0",
    "trainer.accelerator=cpu",
    "trainer.progress_bar=false",
]
FEATURES = [
    "features.progress_bar=false",
    "features.num_workers=0",
    "features.device=cpu",
    "features.batch_size=256",
    "linear.epochs=3",
]
# what each sub-command gets appended (resumed runs: one step more than their checkpoint)
BUDGET: dict[str, list[str]] = {
    "pretrain": PRETRAIN,
    "eval": FEATURES,
    "index": FEATURES,
    "embed": FEATURES,
    "plot": FEATURES,
    "finetune": [
        *FEATURES,
        "finetune.epochs=1",
        "finetune.sweep_epochs=[1,1,1]",
        "finetune.batch_size=64",
        "finetune.progress_bar=false",
    ],
    "ablate": [
        "base_overrides=[" + ",".join([*PRETRAIN, "data.subset=64", "data.val_subset=32"]) + "]",
        "eval.train_subset=200",
        "eval.test_subset=50",  # of the measured split: val, 60 of the 600 training images
    ],
    "recipes": [],
    "retrieve": [],
    "clean": [],
}
# the runs the pages name, made once: name -> overrides of `simclr pretrain` (2 planned epochs
# of which the budget trains one step, so that `--resume` has training left)
RUNS = {
    "my-run": [],
    "other-run": [],
    "default": [],
    "20261125-180000": ["data.name=cifar10"],  # README's library snippet: 3-channel images
}


# files the pages read that no command of theirs writes: path -> writer
def _query_image(path: Path) -> None:
    from PIL import Image

    image = tiny_reader("fashion_mnist")("test")[1][0]  # a test image of class 2, a pullover
    Image.fromarray(image[0].numpy()).save(path)


FILES: dict[str, Callable[[Path], None]] = {"queries/test00001_Pullover.png": _query_image}
# names a snippet uses without defining them
SNIPPET_NAMES: dict[str, Callable[[], object]] = {
    "images": lambda: torch.rand(4, 3, 32, 32),  # a batch of RGB images in [0, 1]
}


def tiny_reader(name: str) -> Callable[..., ArrayImages]:
    channels, side = SHAPES[name]
    classes = FASHION_MNIST_CLASSES if name == "fashion_mnist" else [f"c{i}" for i in range(10)]

    def read(split: str, **_: object) -> ArrayImages:
        count = SPLIT_SIZES.get(split, SPLIT_SIZES["train"])
        generator = np.random.default_rng(len(split))
        images = generator.integers(0, 100, (count, channels, side, side), dtype=np.uint8)
        labels = (np.arange(count) // 30) % 10
        for row, label in enumerate(labels):  # a bright square whose place is the class
            top, left = (label // 4) * 7, (label % 4) * 7
            images[row, :, top : top + 7, left : left + 7] += 150
        return ArrayImages(torch.from_numpy(images), torch.from_numpy(labels), classes)

    return read


def use_tiny_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every registered in-memory dataset, and the Fashion-MNIST reader itself, made tiny."""
    import simclr.data.readers

    for name in SHAPES:
        spec = dataclasses.replace(DATASETS[name], read=tiny_reader(name))
        monkeypatch.setitem(DATASETS, name, spec)
    monkeypatch.setattr(simclr.data.readers, "read_fashion_mnist", tiny_reader("fashion_mnist"))


@dataclasses.dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_simclr(argv: list[str]) -> Outcome:
    """``simclr ARGV`` in this process: its exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse: --help, or a bad argument
            code = stop.code if isinstance(stop.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


def checkpoint_step(run_dir: Path) -> int:
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    return int(state["global_step"])


def budgeted(argv: list[str]) -> tuple[list[str], Path | None]:
    """A shown ``simclr ...`` command with its budget appended, and the file its ``>`` names."""
    words, target = list(argv[1:]), None
    if ">" in words:
        at = words.index(">")
        words, target = words[:at], Path(words[at + 1])
    command = words[0] if words else ""
    extra = list(BUDGET.get(command, []))
    if command == "pretrain" and "--resume" in words:
        run_dir = Path(words[words.index("--resume") + 1])
        extra = [f"trainer.max_steps={checkpoint_step(run_dir) + 1}"]
    return [*words, *extra], target


def make_runs(folder: Path) -> None:
    """The runs of RUNS, pretrained by ``simclr pretrain`` under ``folder/runs``."""
    with working_directory(folder):
        for name, overrides in RUNS.items():
            argv = ["pretrain", *PRETRAIN, "trainer.max_epochs=2", f"run.name={name}", *overrides]
            outcome = run_simclr(argv)
            assert outcome.code == 0, f"making runs/{name}: {outcome.stderr[-3000:]}"


def lay_out(source: Path, target: Path, text: str) -> None:
    """The prebuilt runs and the files that ``text`` names, in ``target`` (runs copied, not
    linked: commands rewrite their files)."""
    for run in (source / "runs").iterdir():
        if f"runs/{run.name}" in text:
            shutil.copytree(run, target / "runs" / run.name)
    for name, write in FILES.items():
        if name in text:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            write(target / name)


@contextlib.contextmanager
def working_directory(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)
