"""Tests of linear_eval/retrieval/store.py: the index saved and loaded whole, a damaged or
missing one refused in one line that says how to rebuild it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from linear_eval.retrieval.query import retrieve
from linear_eval.retrieval.store import load_index, save_index
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
