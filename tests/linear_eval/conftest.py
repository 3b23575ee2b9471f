"""Fixtures that only the linear_eval tests use: query images saved as files and an index over
the synthetic run's test split.

The synthetic dataset, its run dir of untrained weights, ``single_thread`` and ``bit_identical``
are fixtures of every folder (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from PIL import Image

from linear_eval.cache import Features
from linear_eval.encoders import LoadedEncoder, load_encoder
from linear_eval.features import extract_features
from linear_eval.index import GalleryIndex, build_index


@pytest.fixture
def save_png() -> Callable[[torch.Tensor, Path], Path]:
    """``save_png(image, path)``: a uint8 (1, H, W) image written as a PNG file; its path."""

    def save(image: torch.Tensor, path: Path) -> Path:
        Image.fromarray(image[0].numpy()).save(path)
        return path

    return save


class GalleryOfTestSplit(NamedTuple):
    loaded: LoadedEncoder
    features: Features
    gallery: GalleryIndex


@pytest.fixture
def gallery_of_test_split(run_dir: Path, synthetic) -> GalleryOfTestSplit:
    """The run's encoder, its features of the synthetic test split, and an index over them."""
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
    features = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    gallery = build_index(features, loaded.extractor, config, loaded.source)
    return GalleryOfTestSplit(loaded, features, gallery)


@pytest.fixture
def index_of_train_split(run_dir: Path, tmp_path: Path, synthetic) -> Path:
    """The directory ``simclr index`` builds over the synthetic run's training split."""
    from simclr.cli import main

    index_dir = tmp_path / "index"
    overrides = synthetic.eval_overrides
    assert main(["index", "--checkpoint", str(run_dir), "--out", str(index_dir), *overrides]) == 0
    return index_dir
