"""Points for the index tests: clustered vectors and their exact neighbours by a full sort."""

from __future__ import annotations

import numpy as np


def clustered(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dim))
    points = centres[rng.integers(0, 8, rows)] + 0.6 * rng.normal(size=(rows, dim))
    return points.astype(np.float32)


def brute_force(gallery: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact neighbours by a full numpy sort of the cosine similarities."""
    unit = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return np.argsort(-(queries @ unit.T), axis=1, kind="stable")[:, :k]
