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
    GalleryIndex,
    IndexMismatchError,
    calibrate,
    check_compatible,
    exact_neighbours,
    index_type_for,
    ivf_index,
    load_index,
    make_index,
    preprocessing_of,
    rebuild_command,
    save_index,
    set_knob,
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


def test_auto_is_exact_below_the_size_threshold_and_hnsw_above() -> None:
    config = RetrievalConfig(index_type="auto", exact_below=100, memory_gib=1.0)
    assert index_type_for(99, config) == "flat"
    assert index_type_for(100, config) == "hnsw"
    assert index_type_for(10, RetrievalConfig(index_type="ivf")) == "ivf"


def test_auto_stores_8_bit_scalars_when_hnsw_would_exceed_the_memory_budget() -> None:
    # HNSW32 over 1,000,000 x 512: float32 vectors (1.91 GiB) and 64 links each (0.24 GiB);
    # the benchmark measured 2,213 MiB on disk
    assert index_type_for(1_000_000, RetrievalConfig(memory_gib=2.0), 512) == "ivf_sq8"
    assert index_type_for(1_000_000, RetrievalConfig(memory_gib=2.2), 512) == "hnsw"
    assert index_type_for(1_000_000, RetrievalConfig(memory_gib=1.0), 128) == "hnsw"


def test_ivf_visiting_every_cell_is_exact() -> None:
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(500, 16)).astype(np.float32)
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    index = ivf_index(gallery, nlist=8, nprobe=8)
    approximate = search(index, queries, 5)
    exact = search(exact_index(gallery), queries, 5)
    assert np.array_equal(approximate[1], exact[1])
    np.testing.assert_allclose(approximate[0], exact[0], atol=1e-5)


def _clustered(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dim))
    points = centres[rng.integers(0, 8, rows)] + 0.6 * rng.normal(size=(rows, dim))
    return points.astype(np.float32)


def _brute_force(gallery: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact neighbours by a full numpy sort of the cosine similarities."""
    unit = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return np.argsort(-(queries @ unit.T), axis=1, kind="stable")[:, :k]


def test_chunked_exact_neighbours_equal_a_full_sort(monkeypatch) -> None:
    monkeypatch.setattr("linear_eval.index.ADD_CHUNK", 64)  # 1,000 rows in 16 chunks
    gallery, queries = _clustered(1000), _clustered(30, seed=1)
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    assert np.array_equal(exact_neighbours(gallery, unit, 10), _brute_force(gallery, queries, 10))


@pytest.mark.parametrize(("kind", "least"), [("ivf", 1.0), ("ivf_sq8", 0.9), ("hnsw", 0.99)])
def test_each_index_type_against_brute_force_at_its_widest_search(kind: str, least: float):
    """IVF with nprobe = nlist scans every vector (exact); 8-bit scalars lose a little; HNSW
    with a candidate list as long as the gallery finds (nearly) everything."""
    gallery, queries = _clustered(2000), _clustered(50, seed=1)
    index = make_index(kind, gallery, RetrievalConfig(nlist=16))
    set_knob(index, kind, 16 if kind != "hnsw" else 2000)
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    found = index.search(unit, 10)[1]
    exact = _brute_force(gallery, queries, 10)
    recall = np.mean([len(np.intersect1d(f, e)) / 10 for f, e in zip(found, exact)])
    assert recall >= least and (kind != "ivf" or np.array_equal(found, exact))


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_calibration_picks_the_smallest_knob_reaching_the_target(kind: str) -> None:
    gallery = _clustered(3000)
    # a sparse graph (4 links per vector) so that HNSW's smallest list misses the target
    settings = RetrievalConfig(nlist=64, hnsw_m=4, target_recall=0.9, calibration_queries=200)
    index = make_index(kind, gallery, settings)
    knob, recall, queries = calibrate(index, kind, gallery, settings, seed=0)
    assert queries == 200 and recall >= 0.9

    own = np.sort(np.random.default_rng(1).choice(3000, 200, replace=False))  # seed + 1

    def recall_at(value: int) -> float:  # leave-one-out recall@10, by a full sort
        set_knob(index, kind, value)
        unit = gallery[own] / np.linalg.norm(gallery[own], axis=1, keepdims=True)
        found = index.search(unit, 11)[1]
        exact = _brute_force(gallery, gallery[own], 11)
        hits = [
            len(np.intersect1d(f[f != o][:10], e[e != o][:10]))
            for f, e, o in zip(found, exact, own)
        ]
        return sum(hits) / (10 * len(own))

    assert recall_at(knob) == pytest.approx(recall)
    smaller = knob // 2
    assert knob > (1 if kind == "ivf" else 16) and recall_at(smaller) < 0.9


def test_a_saved_index_keeps_its_type_and_calibrated_knob(
    gallery_of_test_split, synthetic, tmp_path: Path
) -> None:
    from linear_eval.index import build_index

    loaded, features, _ = gallery_of_test_split
    for kind in ("ivf_sq8", "hnsw"):
        overrides = [f"retrieval.index_type={kind}", "retrieval.nlist=8"]
        config = synthetic.eval_config(loaded.pretrain_config, *overrides)
        gallery = build_index(features, loaded.extractor, config, loaded.source)
        assert gallery.meta["calibration"]["recall_at_10"] >= 0.95
        save_index(gallery, tmp_path / kind)
        restored = load_index(tmp_path / kind)
        knob = "nprobe" if kind == "ivf_sq8" else "ef_search"
        assert restored.meta[knob] == gallery.meta[knob] > 0
        if kind == "hnsw":  # the fewest reaching the target, doubled (calibration_margin)
            assert restored.meta[knob] == 2 * restored.meta["calibration"]["reaching"]
        queries = np.asarray(features.representation[:5])
        assert retrieve(restored, queries, 4) == retrieve(gallery, queries, 4)
