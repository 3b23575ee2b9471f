"""Tests of linear_eval/retrieval/index.py: the index type chosen by size and memory, and each
type's search against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from linear_eval.config import RetrievalConfig
from linear_eval.features.vectors import exact_index, search
from linear_eval.retrieval.index import index_type_for, ivf_index, make_index, set_knob
from tests.linear_eval.retrieval.points import brute_force, clustered

pytestmark = pytest.mark.usefixtures("single_thread")


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


@pytest.mark.parametrize(("kind", "least"), [("ivf", 1.0), ("ivf_sq8", 0.9), ("hnsw", 0.99)])
def test_each_index_type_against_brute_force_at_its_widest_search(kind: str, least: float):
    """IVF with nprobe = nlist scans every vector (exact); 8-bit scalars lose a little; HNSW
    with a candidate list as long as the gallery finds (nearly) everything."""
    gallery, queries = clustered(2000), clustered(50, seed=1)
    index = make_index(kind, gallery, RetrievalConfig(nlist=16))
    set_knob(index, kind, 16 if kind != "hnsw" else 2000)
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    found = index.search(unit, 10)[1]
    exact = brute_force(gallery, queries, 10)
    recall = np.mean([len(np.intersect1d(f, e)) / 10 for f, e in zip(found, exact)])
    assert recall >= least and (kind != "ivf" or np.array_equal(found, exact))
