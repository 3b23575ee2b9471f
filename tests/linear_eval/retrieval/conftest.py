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


@pytest.fixture(scope="session")
def served_run(fashion_mnist_folder, tmp_path_factory: pytest.TempPathFactory):
    """``simclr serve`` of a folder run of 100 Fashion-MNIST images, running in its own
    process for the tests that talk to it over HTTP (tests/linear_eval/retrieval/serving.py)."""
    from tests.linear_eval.retrieval.serving import ServedRun, build_indexes, folder_run, serving

    root = tmp_path_factory.mktemp("served")
    gallery = fashion_mnist_folder.path / "val"
    run, other = folder_run(root, gallery, seed=0), folder_run(root, gallery, seed=1)
    index = build_indexes(run, other, gallery)
    opened = root / "opened.txt"
    # queried by the run's encoder: the index built by another is refused (409)
    with serving(run, opened, "--checkpoint", str(run), "-k", "5", "--max-upload-mib", "1") as url:
        yield ServedRun(run, index, gallery, url, opened)
