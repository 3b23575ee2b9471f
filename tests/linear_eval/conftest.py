"""Fixtures that only the linear_eval tests use: query images saved as files and the index that
``simclr index`` builds over the synthetic run's training split.

The synthetic dataset, its run dir of untrained weights, ``single_thread`` and ``bit_identical``
are fixtures of every folder (tests/conftest.py); the retrieval tests' index over the test split
is in tests/linear_eval/retrieval/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image


@pytest.fixture
def save_png() -> Callable[[torch.Tensor, Path], Path]:
    """``save_png(image, path)``: a uint8 (1, H, W) image written as a PNG file; its path."""

    def save(image: torch.Tensor, path: Path) -> Path:
        Image.fromarray(image[0].numpy()).save(path)
        return path

    return save


@pytest.fixture
def gallery_of_test_images(
    synthetic, tmp_path: Path, save_png
) -> Callable[..., tuple[Path, list[Path]]]:
    """``gallery(count, name="img{:02d}.png")``: the synthetic test split's first ``count``
    images as PNG files in ``tmp_path/gallery``, the i-th named ``name.format(i)``; the folder
    and the files' paths."""

    def write(count: int, name: str = "img{:02d}.png") -> tuple[Path, list[Path]]:
        folder = tmp_path / "gallery"
        folder.mkdir(exist_ok=True)
        images = synthetic.images("test").images
        return folder, [save_png(images[i], folder / name.format(i)) for i in range(count)]

    return write


@pytest.fixture
def index_of_train_split(run_dir: Path, tmp_path: Path, synthetic) -> Path:
    """The directory ``simclr index`` builds over the synthetic run's training split."""
    from simclr.cli import main

    index_dir = tmp_path / "index"
    overrides = synthetic.eval_overrides
    assert main(["index", "--checkpoint", str(run_dir), "--out", str(index_dir), *overrides]) == 0
    return index_dir
