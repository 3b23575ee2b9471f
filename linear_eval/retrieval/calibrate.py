"""The search knob of an approximate index (IVF's nprobe, HNSW's efSearch), calibrated for a
recall@10 of the exact index on gallery rows held out as queries."""

from __future__ import annotations

import faiss
import numpy as np

from linear_eval.config import RetrievalConfig
from linear_eval.features.vectors import ADD_CHUNK, normalized
from linear_eval.retrieval.index import set_knob

NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


EF_SEARCH = (16, 32, 64, 128, 256, 512, 1024)


def exact_neighbours(gallery: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The k nearest gallery rows of each (normalised) query by brute force, the gallery read
    in chunks (faiss's ResultHeap merges the chunks' top k)."""
    heap = faiss.ResultHeap(len(queries), k, keep_max=True)
    for begin in range(0, len(gallery), ADD_CHUNK):
        block = normalized(gallery[begin : begin + ADD_CHUNK])
        similarities = queries @ block.T
        top = min(k, len(block))
        rows = np.argpartition(-similarities, top - 1, axis=1)[:, :top]
        scores = np.take_along_axis(similarities, rows, axis=1)
        heap.add_result(np.ascontiguousarray(scores), np.ascontiguousarray(rows + begin))
    heap.finalize()
    return heap.I


def recall_at(found: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """The share of each query's exact k nearest that ``found`` holds among its first k."""
    hits = [len(np.intersect1d(f[:k], e[:k])) for f, e in zip(found, exact)]
    return float(np.sum(hits) / (len(exact) * min(k, exact.shape[1])))


def _without(rows: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Each row's first k entries other than its own index (a held-out query finds itself)."""
    return np.stack([r[r != o][:k] for r, o in zip(rows, own)])


def calibrate(
    index: faiss.Index,
    kind: str,
    gallery: np.ndarray,
    config: RetrievalConfig,
    seed: int = 0,
    knobs: list[int] | None = None,
) -> tuple[int | None, float, int]:
    """The smallest nprobe (IVF) or efSearch (HNSW) of ``knobs`` (default: doubling from 1 or
    16) whose recall@10 against the exact index reaches ``target_recall`` on
    ``calibration_queries`` gallery rows used as queries, each leaving itself out; (knob, its
    recall@10, queries). An index that reaches it nowhere gets its largest knob."""
    size = index.ntotal
    count = min(config.calibration_queries, size)
    own = np.sort(np.random.default_rng(seed + 1).choice(size, count, replace=False))
    queries = normalized(np.asarray(gallery[own]))
    k = min(10, size - 1)
    if k < 1:
        return None, 1.0, count
    exact = _without(exact_neighbours(gallery, queries, k + 1), own, k)
    if knobs is None and kind == "hnsw":
        knobs = list(EF_SEARCH)
    elif knobs is None:
        nlist = faiss.extract_index_ivf(index).nlist
        knobs = [n for n in NPROBES if n < nlist] + [nlist]
    knob, achieved = None, 0.0
    for value in knobs:
        knob = set_knob(index, kind, value)
        _, found = index.search(queries, k + 1)
        achieved = recall_at(_without(found, own, k), exact, k)
        if achieved >= config.target_recall:
            break
    return knob, achieved, count
