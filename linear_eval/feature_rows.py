"""Frozen features written row by row into a memory-mapped ``.npy`` file, with labels and indices.

A split larger than RAM can be extracted: ``features.npy`` is reserved for every image of the
split and filled batch by batch; rows of unreadable images never come, so the file is cut to the
rows written when it is closed. Labels and dataset indices are small and kept in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CHUNK_ROWS = 65_536  # rows copied at once when a file is cut or shards are merged


class FeatureRows:
    """``features.npy`` (N, D) float32, ``labels.npy`` and ``indices.npy`` (N,) in ``directory``."""

    def __init__(self, directory: Path, capacity: int) -> None:
        self.directory, self.capacity = Path(directory), capacity
        self.labels = np.empty(capacity, np.int64)
        self.indices = np.empty(capacity, np.int64)
        self.store: np.memmap | None = None
        self.written = 0

    @property
    def path(self) -> Path:
        return self.directory / "features.npy"

    def append(self, representation: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> None:
        if self.store is None:  # the feature dimension is known from the first batch
            shape = (self.capacity, representation.shape[1])
            self.store = np.lib.format.open_memmap(self.path, "w+", np.float32, shape)
        rows = slice(self.written, self.written + len(representation))
        self.store[rows] = representation
        self.labels[rows], self.indices[rows] = labels, indices
        self.written += len(representation)

    def close(self) -> int:
        """Flush, cut the file to the rows written, save labels and indices; the row count."""
        if self.store is None:
            return 0
        self.store.flush()
        if self.written < self.capacity:
            self.store = _truncate(self.path, self.store, self.written)
        self.store = None
        np.save(self.directory / "labels.npy", self.labels[: self.written])
        np.save(self.directory / "indices.npy", self.indices[: self.written])
        return self.written


def _truncate(path: Path, store: np.memmap, rows: int) -> np.memmap:
    shorter_path = path.with_suffix(".short.npy")
    shorter = np.lib.format.open_memmap(shorter_path, "w+", np.float32, (rows, store.shape[1]))
    for begin in range(0, rows, CHUNK_ROWS):
        shorter[begin : begin + CHUNK_ROWS] = store[begin : min(rows, begin + CHUNK_ROWS)]
    shorter.flush()
    del store
    os.replace(shorter_path, path)
    return shorter
