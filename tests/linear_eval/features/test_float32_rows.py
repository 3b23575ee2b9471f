"""Tests of linear_eval/features/float32_rows.py: cached float16 rows read as float32, and the
protocols' results on them equal to those on the float32 features they were rounded from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from linear_eval.config import LinearConfig
from linear_eval.features.cache import Features, array_records, load_cached
from linear_eval.features.float32_rows import Float32Rows
from linear_eval.features.rows import FeatureRows
from linear_eval.features.vectors import exact_index, search
from linear_eval.protocols.knn import knn_classify, weighted_votes
from linear_eval.protocols.linear import linear_probe

pytestmark = pytest.mark.usefixtures("single_thread")

CLASSES, DIM = 10, 128


def test_rows_read_as_float32_whatever_their_stored_dtype() -> None:
    stored = np.arange(12, dtype=np.float16).reshape(4, 3) / 3
    rows = Float32Rows(stored)
    assert rows.dtype == np.float32 and rows.shape == (4, 3) and len(rows) == 4 and rows.ndim == 2
    for key in (1, slice(1, 3), [3, 0], (slice(None), 2), np.array([True, False, True, False])):
        assert rows[key].dtype == np.float32
        np.testing.assert_array_equal(rows[key], stored[key].astype(np.float32))
    assert np.asarray(rows).dtype == np.float32 and np.array(rows, np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(rows, copy=False)
    assert torch.from_numpy(np.array(rows, dtype=np.float32)).dtype == torch.float32


def pretrained_like(seed: int, count: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative (post-ReLU) features of 10 classes around seeded centres with noise of std
    ``spread``: h of a pretrained encoder as kNN and the probe see it."""
    centres = np.random.default_rng(0).gamma(1.0, 1.0, (CLASSES, DIM))
    labels = np.arange(count) % CLASSES
    noise = np.random.default_rng(seed).normal(0.0, spread, (count, DIM))
    return np.maximum(centres[labels] + noise, 0).astype(np.float32), labels


def cached(directory: Path, features: np.ndarray, labels: np.ndarray, dtype: str) -> Features:
    """``features`` written and read back as the feature cache does, stored in ``dtype``."""
    directory.mkdir()
    rows = FeatureRows(directory, len(features), dtype)
    rows.append(features, labels, np.arange(len(features)))
    rows.close()
    (directory / "meta.json").write_text(json.dumps({"arrays": array_records(directory)}))
    return load_cached(directory)


TEST_IMAGES = 500
# Two seeded sets: classes well apart (kNN top-1 0.97) and overlapping (0.77). Rounding to
# float16 moves a cosine similarity by about 1e-3, which can swap two neighbours that close at
# the k-th place; on the separated set no prediction changes, on the overlapping one at most 2
# of 500 did (1 at k=10 here; 0-2 over 12 seeds of this set), and so by as much the accuracy
SETS = {"well separated": (2.5, 0), "overlapping": (4.0, 2)}


@pytest.fixture(params=list(SETS))
def train_and_test(request, tmp_path: Path) -> tuple[dict[str, tuple], int]:
    """{dtype: (train, test)} of the same features cached in float16 and float32, and how many
    test predictions may differ between them."""
    spread, allowed = SETS[request.param]
    train, train_labels = pretrained_like(1, 2000, spread)
    test, test_labels = pretrained_like(2, TEST_IMAGES, spread)
    splits = {
        dtype: (
            cached(tmp_path / f"{dtype}-train", train, train_labels, dtype),
            cached(tmp_path / f"{dtype}-test", test, test_labels, dtype),
        )
        for dtype in ("float16", "float32")
    }
    return splits, allowed


def _knn_predictions(train: Features, test: Features, k: int) -> np.ndarray:
    similarities, neighbours = search(exact_index(train.representation), test.representation, k)
    votes = weighted_votes(
        torch.from_numpy(similarities), torch.from_numpy(train.labels[neighbours]), CLASSES
    )
    return votes.argmax(dim=1).numpy()


def test_knn_predicts_the_same_classes_from_float16_cached_features(train_and_test) -> None:
    splits, allowed = train_and_test
    (train16, test16), (train32, test32) = splits["float16"], splits["float32"]
    assert train16.representation.stored.dtype == np.float16
    assert train16.representation.stored.nbytes * 2 == train32.representation.stored.nbytes
    for k in (10, 200):
        changed = _knn_predictions(train16, test16, k) != _knn_predictions(train32, test32, k)
        assert changed.sum() <= allowed, k
    results = [
        knn_classify(
            train.representation, train.labels, test.representation, test.labels, (10, 200)
        )
        for train, test in (splits["float16"], splits["float32"])
    ]
    for k in (10, 200):
        assert abs(results[0][k]["top1"] - results[1][k]["top1"]) <= allowed / TEST_IMAGES
    if allowed == 0:
        assert results[0] == results[1]
    assert 0.6 < results[1][200]["top1"] < 0.98  # neither trivial nor chance: predictions matter


def test_the_linear_probe_scores_the_same_on_float16_cached_features(train_and_test) -> None:
    splits, _ = train_and_test
    config = LinearConfig(epochs=10, batch_size=256, weight_decays=[0.0, 1e-3])
    probes = [
        linear_probe(train.representation, train.labels, test.representation, test.labels, config)
        for train, test in (splits["float16"], splits["float32"])
    ]
    # the same seed and batches; inputs 2^-11 apart train a layer a little apart, which may move
    # a borderline test image (1 of 500 on the overlapping set, none on the separated one)
    tolerance = 2 / TEST_IMAGES
    assert abs(probes[0].top1 - probes[1].top1) <= tolerance
    assert abs(probes[0].top5 - probes[1].top5) <= tolerance
    assert 0.6 < probes[1].top1 < 0.99
