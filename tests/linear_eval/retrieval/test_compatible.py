"""Tests of linear_eval/retrieval/compatible.py: the preprocessing an index records, queries of
another encoder or dimension refused, and the command that rebuilds an index."""

from __future__ import annotations

from pathlib import Path

import pytest

from linear_eval.features.encoders import random_encoder, raw_pixels
from linear_eval.features.preprocess import Preprocessing
from linear_eval.retrieval.compatible import (
    IndexMismatchError,
    check_compatible,
    preprocessing_of,
    rebuild_command,
)
from linear_eval.retrieval.index import GalleryIndex
from linear_eval.retrieval.store import save_index
from simclr.errors import ConfigError

pytestmark = pytest.mark.usefixtures("single_thread")


def test_the_index_records_the_preprocessing_of_its_features(
    gallery_of_test_split, synthetic
) -> None:
    loaded, _, gallery = gallery_of_test_split
    config = synthetic.eval_config(loaded.pretrain_config)
    assert preprocessing_of(gallery) == Preprocessing.from_config(config)
    assert preprocessing_of(gallery) == Preprocessing(16, 1, (0.3,), (0.3,), True)


def test_a_query_from_another_encoder_or_dimension_is_refused(gallery_of_test_split) -> None:
    loaded, features, gallery = gallery_of_test_split
    check_compatible(gallery, loaded.extractor, 512)  # the encoder that built it is accepted
    other = random_encoder(loaded.encoder, seed=1)
    with pytest.raises(IndexMismatchError, match="built with encoder") as error:
        check_compatible(gallery, other, 512)
    assert "\n" not in str(error.value) and isinstance(error.value, ConfigError)
    with pytest.raises(IndexMismatchError, match="256-d"):
        check_compatible(gallery, raw_pixels(), 256)


def test_a_changed_encoder_file_is_told_from_another_encoder(
    gallery_of_test_split, tmp_path: Path
) -> None:
    loaded, _, gallery = gallery_of_test_split
    save_index(gallery, tmp_path / "index")
    check_compatible(gallery, loaded.extractor, 512, loaded.source)  # unchanged: accepted
    other = random_encoder(loaded.encoder, seed=1)  # new weights, read from the same file
    with pytest.raises(IndexMismatchError, match="changed since the index was built") as error:
        check_compatible(gallery, other, 512, loaded.source)
    message = str(error.value)
    assert f"the encoder at {loaded.source.resolve()} changed" in message
    assert "query with --checkpoint" not in message and "\n" not in message
    assert message.endswith(f"--out {tmp_path / 'index'}'")
    with pytest.raises(IndexMismatchError, match="it was 512-d, it is 256-d"):
        check_compatible(gallery, raw_pixels(), 256, loaded.source)
    with pytest.raises(IndexMismatchError, match="query with --checkpoint"):  # another file
        check_compatible(gallery, other, 512, tmp_path / "elsewhere.pt")


def test_the_rebuild_command_of_an_image_folder_gallery_names_the_folder() -> None:
    meta = {
        "checkpoint": "/runs/my run/encoder.pt",
        "data": {"name": "folder", "path": "/photos/holiday", "root": "data"},
        "split": "all",
        "subset": None,
        "seed": 0,
        "preprocessing": {"image_size": 32},
        "index_type": "hnsw",
    }
    gallery = GalleryIndex(None, meta, Path("/runs/my run/index/photos"))
    assert rebuild_command(gallery) == (
        "simclr index --checkpoint '/runs/my run/encoder.pt' --folder /photos/holiday --split all "
        "data.image_size=32 retrieval.index_type=hnsw --out '/runs/my run/index/photos'"
    )
