"""Frozen features written row by row into a memory-mapped ``.npy`` file, with labels and indices.

A split larger than RAM can be extracted: ``features.npy`` is reserved for every image of the split
and filled batch by batch; rows of unreadable images never come, so the file is cut to the rows
written when it is closed. Labels and dataset indices are small and kept in memory. Rows are stored
in ``features.dtype`` (float16 by default: half the disk of float32, read back as float32 by
:class:`linear_eval.features.float32_rows.Float32Rows`); a value beyond float16's range is refused.

Every so many rows the writer records a checkpoint (``progress.json``: rows written, dataset
position reached; the rows flushed, labels and indices saved), so an extraction that is killed
resumes from its last checkpoint instead of from the first image.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from simclr.errors import DataError
from simclr.run.atomic import atomic_write

CHUNK_ROWS = 65_536  # rows copied at once when a file is cut or shards are merged
PROGRESS_FILE = "progress.json"
PARTIAL_ARRAYS = ("labels.partial.npy", "indices.partial.npy")


class FeatureRows:
    """``features.npy`` (N, D) of ``dtype``, ``labels.npy`` and ``indices.npy`` (N,) in
    ``directory``."""

    def __init__(self, directory: Path, capacity: int, dtype: str = "float16") -> None:
        self.directory, self.capacity, self.dtype = Path(directory), capacity, np.dtype(dtype)
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
            self.store = np.lib.format.open_memmap(self.path, "w+", self.dtype, shape)
        rows = slice(self.written, self.written + len(representation))
        with np.errstate(over="ignore"):  # an overflow is refused below, in one line
            stored = representation.astype(self.store.dtype)
        _refuse_overflow(representation, stored)
        self.store[rows] = stored
        self.labels[rows], self.indices[rows] = labels, indices
        self.written += len(representation)

    def checkpoint(self, position: int) -> None:
        """Make the rows written so far durable and record ``position``, the first dataset
        position not yet read, in ``progress.json`` (written last: it names only saved rows)."""
        if self.store is None:
            return
        self.store.flush()
        for name, values in zip(PARTIAL_ARRAYS, (self.labels, self.indices)):
            temporary = self.directory / f"tmp-{name}"
            np.save(temporary, values[: self.written])
            os.replace(temporary, self.directory / name)
        progress = {"rows": self.written, "position": position, "capacity": self.capacity}
        progress["dim"] = int(self.store.shape[1])
        atomic_write(self.directory / PROGRESS_FILE, json.dumps(progress).encode())

    @classmethod
    def resume(cls, directory: Path, capacity: int) -> tuple[FeatureRows, int] | None:
        """The writer of an interrupted extraction in ``directory`` at its last checkpoint, and
        the dataset position to go on from; None when there is nothing usable to resume."""
        directory = Path(directory)
        try:
            progress = json.loads((directory / PROGRESS_FILE).read_text())
            rows, position = int(progress["rows"]), int(progress["position"])
            if progress["capacity"] != capacity or not 0 < rows <= min(position, capacity):
                return None
            store = np.lib.format.open_memmap(directory / "features.npy", "r+")
            writer = cls(directory, capacity, store.dtype.name)
            labels, indices = (np.load(directory / name) for name in PARTIAL_ARRAYS)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if (
            store.shape != (capacity, progress["dim"])
            or rows != len(labels)
            or rows != len(indices)
        ):
            return None
        writer.store, writer.written = store, rows
        writer.labels[:rows], writer.indices[:rows] = labels, indices
        return writer, position

    def close(self) -> int:
        """Flush, cut the file to the rows written, save labels and indices; the row count."""
        for name in (PROGRESS_FILE, *PARTIAL_ARRAYS):
            (self.directory / name).unlink(missing_ok=True)
        if self.store is None:
            return 0
        self.store.flush()
        if self.written < self.capacity:
            self.store = _truncate(self.path, self.store, self.written)
        self.store = None
        np.save(self.directory / "labels.npy", self.labels[: self.written])
        np.save(self.directory / "indices.npy", self.indices[: self.written])
        return self.written


def _refuse_overflow(representation: np.ndarray, stored: np.ndarray) -> None:
    """A finite value that became infinite when cast to the storage dtype is a DataError."""
    overflow = np.isinf(stored) & np.isfinite(representation)
    if overflow.any():
        peak = float(np.abs(representation[overflow]).max())
        limit = float(np.finfo(stored.dtype).max)
        raise DataError(
            f"representation values up to {peak:.3g} exceed {stored.dtype}'s range (+-{limit:g}) "
            "of the feature cache: set features.dtype=float32"
        )


def _truncate(path: Path, store: np.memmap, rows: int) -> np.memmap:
    shorter_path = path.with_suffix(".short.npy")
    shorter = np.lib.format.open_memmap(shorter_path, "w+", store.dtype, (rows, store.shape[1]))
    for begin in range(0, rows, CHUNK_ROWS):
        shorter[begin : begin + CHUNK_ROWS] = store[begin : min(rows, begin + CHUNK_ROWS)]
    shorter.flush()
    del store
    os.replace(shorter_path, path)
    return shorter
