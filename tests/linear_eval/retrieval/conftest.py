"""Fixtures of the retrieval tests: the run's encoder, its features of the synthetic test split
and an index over them."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from linear_eval.features.cache import Features
from linear_eval.features.encoders import LoadedEncoder, load_encoder
from linear_eval.features.extract import extract_features
from linear_eval.retrieval.build import build_index
from linear_eval.retrieval.index import GalleryIndex


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
