"""Cosine search over feature vectors with faiss: rows scaled to unit length, an exact
inner-product index over them, and a search in chunks of queries. What the kNN protocol and
retrieval both stand on."""

from __future__ import annotations

import faiss
import numpy as np

ADD_CHUNK = 65_536


def normalized(features: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit L2 norm (all-zero rows stay zero)."""
    features = np.array(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def exact_index(gallery: np.ndarray) -> faiss.IndexFlatIP:
    """An exact inner-product index over the L2-normalised rows of ``gallery``, added in chunks."""
    index = faiss.IndexFlatIP(gallery.shape[1])
    for begin in range(0, len(gallery), ADD_CHUNK):
        index.add(normalized(gallery[begin : begin + ADD_CHUNK]))
    return index


def search(
    index: faiss.Index, queries: np.ndarray, k: int, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities (Q, k) and gallery rows (Q, k) of each query's k nearest neighbours."""
    k = min(k, index.ntotal)
    similarities = np.empty((len(queries), k), np.float32)
    neighbours = np.empty((len(queries), k), np.int64)
    for begin in range(0, len(queries), chunk):
        end = begin + chunk
        similarities[begin:end], neighbours[begin:end] = index.search(
            normalized(queries[begin:end]), k
        )
    return similarities, neighbours
