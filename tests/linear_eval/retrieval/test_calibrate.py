"""Tests of linear_eval/retrieval/calibrate.py: exact neighbours read in chunks, and the search
knob calibrated to the smallest that reaches the target recall."""

from __future__ import annotations

import numpy as np
import pytest

from linear_eval.config import RetrievalConfig
from linear_eval.retrieval.calibrate import calibrate, exact_neighbours
from linear_eval.retrieval.index import make_index, set_knob
from tests.linear_eval.retrieval.points import brute_force, clustered

pytestmark = pytest.mark.usefixtures("single_thread")


def test_chunked_exact_neighbours_equal_a_full_sort(monkeypatch) -> None:
    monkeypatch.setattr("linear_eval.retrieval.calibrate.ADD_CHUNK", 64)  # 1,000 rows in 16 chunks
    gallery, queries = clustered(1000), clustered(30, seed=1)
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    assert np.array_equal(exact_neighbours(gallery, unit, 10), brute_force(gallery, queries, 10))


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_calibration_picks_the_smallest_knob_reaching_the_target(kind: str) -> None:
    gallery = clustered(3000)
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
        exact = brute_force(gallery, gallery[own], 11)
        hits = [
            len(np.intersect1d(f[f != o][:10], e[e != o][:10]))
            for f, e, o in zip(found, exact, own)
        ]
        return sum(hits) / (10 * len(own))

    assert recall_at(knob) == pytest.approx(recall)
    smaller = knob // 2
    assert knob > (1 if kind == "ivf" else 16) and recall_at(smaller) < 0.9
