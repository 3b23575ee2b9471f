"""Tests of linear_eval/index.py: the faiss index of a gallery, saved and loaded whole, refusing
queries of another encoder and damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from linear_eval.config import RetrievalConfig
from linear_eval.encoders import random_encoder, raw_pixels
from linear_eval.features import Preprocessing
from linear_eval.index import (
    IndexMismatchError,
    check_compatible,
    index_type_for,
    ivf_index,
    load_index,
    preprocessing_of,
    save_index,
)
from linear_eval.knn import exact_index, search
from linear_eval.retrieval import retrieve
from simclr.errors import ConfigError

pytestmark = pytest.mark.usefixtures("single_thread")


def test_save_and_load_round_trip(gallery_of_test_split, tmp_path: Path) -> None:
    loaded, features, gallery = gallery_of_test_split
    save_index(gallery, tmp_path / "index")
    restored = load_index(tmp_path / "index")
    assert restored.meta == gallery.meta
    assert restored.index.ntotal == gallery.index.ntotal == len(features)
    queries = np.asarray(features.representation[:5])
    assert retrieve(restored, queries, 4) == retrieve(gallery, queries, 4)
    assert restored.meta["feature_dim"] == 512
    assert restored.meta["encoder_fingerprint"] == loaded.extractor.fingerprint
    assert restored.meta["indices"] == list(range(len(features)))


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


def _cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _drop_key(path: Path, key: str) -> None:
    meta = json.loads(path.read_text())
    del meta[key]
    path.write_text(json.dumps(meta))


DAMAGES = {
    "truncated index": lambda d: _cut(d / "index.faiss", 100),
    "empty index": lambda d: _cut(d / "index.faiss", 0),
    "other bytes, same size": lambda d: (d / "index.faiss").write_bytes(
        bytes(len((d / "index.faiss").read_bytes()))
    ),
    "truncated index.json": lambda d: _cut(d / "index.json", 50),
    "incomplete index.json": lambda d: _drop_key(d / "index.json", "count"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_index_is_a_one_line_error_that_says_rebuild(
    gallery_of_test_split, tmp_path: Path, damage: str
) -> None:
    save_index(gallery_of_test_split.gallery, tmp_path / "i")
    DAMAGES[damage](tmp_path / "i")
    with pytest.raises(ConfigError, match="rebuild it with 'simclr index") as error:
        load_index(tmp_path / "i")
    assert "\n" not in str(error.value)


def test_a_rebuilt_index_replaces_the_old_one_whole(gallery_of_test_split, tmp_path: Path) -> None:
    loaded, features, gallery = gallery_of_test_split
    save_index(gallery, tmp_path / "i")
    stale = tmp_path / "i" / ".index.faiss.tmp-999999999"  # a killed earlier write
    stale.write_bytes(b"half")
    save_index(gallery, tmp_path / "i")
    assert not stale.exists()
    assert sorted(p.name for p in (tmp_path / "i").iterdir()) == ["index.faiss", "index.json"]
    assert load_index(tmp_path / "i").index.ntotal == len(features)


def test_loading_a_missing_index_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="index.faiss"):
        load_index(tmp_path)


def test_auto_picks_ivf_from_the_size_threshold() -> None:
    config = RetrievalConfig(index_type="auto", ivf_threshold=100)
    assert index_type_for(99, config) == "flat"
    assert index_type_for(100, config) == "ivf"
    assert index_type_for(10, RetrievalConfig(index_type="ivf")) == "ivf"


def test_ivf_visiting_every_cell_is_exact() -> None:
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(500, 16)).astype(np.float32)
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    index = ivf_index(gallery, nlist=8, nprobe=8)
    approximate = search(index, queries, 5)
    exact = search(exact_index(gallery), queries, 5)
    assert np.array_equal(approximate[1], exact[1])
    np.testing.assert_allclose(approximate[0], exact[0], atol=1e-5)
