"""Tests of linear_eval/retrieval.py: self-retrieval, save/load, mismatch refusal, IVF."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from eval_fixtures import eval_config, synthetic_images

from linear_eval.config import RetrievalConfig
from linear_eval.encoders import load_encoder, random_encoder, raw_pixels
from linear_eval.features import extract_features
from linear_eval.grid import draw_neighbours
from linear_eval.knn import exact_index, search
from linear_eval.retrieval import (
    IndexMismatchError,
    build_index,
    check_compatible,
    gallery_images,
    index_type_for,
    ivf_index,
    load_index,
    preprocessing_of,
    query_features,
    retrieve,
    save_index,
)
from simclr.config import ConfigError

pytest_plugins = ["eval_fixtures"]
pytestmark = pytest.mark.usefixtures("single_thread")


def gallery_of_test_split(run_dir: Path):
    """(the run's encoder, its test-split features, an index over them)."""
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config)
    features = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    return loaded, features, build_index(features, loaded.extractor, config, loaded.source)


@pytest.mark.parametrize("index_type", ["flat", "ivf"])
def test_a_gallery_image_retrieves_itself_first(run_dir: Path, index_type: str) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(
        loaded.pretrain_config, f"retrieval.index_type={index_type}", "retrieval.nlist=4"
    )
    features = extract_features(loaded.extractor, config, "train", None, run_dir / "cache")
    gallery = build_index(features, loaded.extractor, config, loaded.source)
    assert gallery.meta["index_type"] == index_type

    rows = [0, 5, 17]
    images = [synthetic_images("train").images[row] for row in rows]
    queries = query_features(loaded.extractor, images, preprocessing_of(gallery))
    check_compatible(gallery, loaded.extractor, queries.shape[1])
    for row, hits in zip(rows, retrieve(gallery, queries, k=3)):
        assert hits[0]["row"] == row and hits[0]["item"] == row
        assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
        assert hits[0]["label"] == row % 4 and hits[0]["class"] == f"class{row % 4}"
        assert [h["rank"] for h in hits] == [1, 2, 3]
        assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    neighbours = gallery_images(gallery, [hits[0]["row"] for hits in retrieve(gallery, queries, 1)])
    assert all(torch.equal(n, i) for n, i in zip(neighbours, images))


def test_save_and_load_round_trip(run_dir: Path, tmp_path: Path) -> None:
    loaded, features, gallery = gallery_of_test_split(run_dir)
    save_index(gallery, tmp_path / "index")
    restored = load_index(tmp_path / "index")
    assert restored.meta == gallery.meta
    assert restored.index.ntotal == gallery.index.ntotal == len(features)
    queries = np.asarray(features.representation[:5])
    assert retrieve(restored, queries, 4) == retrieve(gallery, queries, 4)
    assert restored.meta["feature_dim"] == 512
    assert restored.meta["encoder_fingerprint"] == loaded.extractor.fingerprint
    assert restored.meta["indices"] == list(range(len(features)))


def test_a_query_from_another_encoder_or_dimension_is_refused(run_dir: Path) -> None:
    loaded, features, gallery = gallery_of_test_split(run_dir)
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
    run_dir: Path, tmp_path: Path, damage: str
) -> None:
    save_index(gallery_of_test_split(run_dir)[2], tmp_path / "i")
    DAMAGES[damage](tmp_path / "i")
    with pytest.raises(ConfigError, match="rebuild it with 'simclr index") as error:
        load_index(tmp_path / "i")
    assert "\n" not in str(error.value)


def test_a_rebuilt_index_replaces_the_old_one_whole(run_dir: Path, tmp_path: Path) -> None:
    loaded, features, gallery = gallery_of_test_split(run_dir)
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


def test_the_grid_is_a_png(tmp_path: Path) -> None:
    images = [torch.full((1, 8, 8), v, dtype=torch.uint8) for v in (0, 100, 200)]
    path = draw_neighbours(images[0], images[1:], ["0.9", "0.8"], tmp_path / "g" / "q.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
