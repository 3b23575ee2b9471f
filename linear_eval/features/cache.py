"""The on-disk cache of frozen features: its key, its check, and how a cache is read.

A cache is a directory named by the sha256 of the extractor's weight fingerprint, the dataset
(name, split, subset, and for image folders every file's path, size and modification time) and
the preprocessing (image size, channels, mean, std) and the dtype the features are stored in
(``features.dtype``, float16 by default: they are read back as float32). Changing any of them, a
new checkpoint included, gives a new key: stale features are never served. ``meta.json`` records
each array's shape and sha256, so a cache cut short or altered on disk is found and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from linear_eval.features.float32_rows import Float32Rows
from simclr.run.atomic import sha256_of

# 2: meta.json holds each array's sha256 and shape; 3: features.npy in features.dtype (float16)
CACHE_VERSION = 3
PARTIAL_MARK = ".partial-"  # a cache being written: <key>.partial-<pid>, renamed when complete
ARRAYS = ("features.npy", "labels.npy", "indices.npy")


@dataclass
class Features:
    """Representations (N, D) read as float32 (memory-mapped, stored in ``features.dtype``),
    labels (N,) and dataset indices (N,)."""

    representation: Float32Rows
    labels: np.ndarray
    indices: np.ndarray  # row i is image indices[i] of the split (unreadable files are skipped)
    meta: dict
    directory: Path
    from_cache: bool

    @property
    def paths(self) -> list[str] | None:
        """For an image folder, the file of each row."""
        files = self.meta.get("files")
        return None if files is None else [files[i] for i in self.indices]

    @property
    def classes(self) -> list[str]:
        return list(self.meta.get("classes", []))

    def __len__(self) -> int:
        return len(self.representation)


def cache_key(
    fingerprint: str,
    dataset: str,
    split: str,
    subset: float | None,
    subset_seed: int,
    preprocessing: Any,
    files: Sequence[Path] | None,
    dtype: str = "float16",
) -> str:
    """sha256 of everything the cached features depend on: the extractor's ``fingerprint``,
    the dataset's split and subset, the ``preprocessing`` (a dataclass), for image folders
    every file's path, size and modification time, and the ``dtype`` they are stored in."""
    listing = None
    if files is not None:
        digest = hashlib.sha256()
        for path in files:
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        listing = digest.hexdigest()
    content = {
        "version": CACHE_VERSION,
        "encoder": fingerprint,
        "dataset": dataset,
        "split": split,
        "subset": subset,
        "subset_seed": subset_seed if subset is not None else None,
        "files": listing,
        "preprocessing": asdict(preprocessing),
        "dtype": dtype,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def cache_problem(directory: Path) -> str | None:
    """Why the cache in ``directory`` cannot be used (a file missing, cut or altered), or None.

    Every array is checked against the shape and sha256 recorded when it was written, so a
    cache overwritten with other bytes of the same size is caught too.
    """
    try:
        meta = json.loads((directory / "meta.json").read_text())
        recorded = meta["arrays"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"meta.json is missing or damaged ({type(error).__name__})"
    for name in ARRAYS:
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        try:
            shape = list(np.load(path, mmap_mode="r").shape)
        except (OSError, ValueError) as error:
            return f"{name} is not a readable array ({type(error).__name__})"
        if shape != recorded[name]["shape"] or sha256_of(path) != recorded[name]["sha256"]:
            return f"{name} is not the array that was written (shape or sha256 differs)"
    return None


def load_cached(directory: Path) -> Features:
    meta = json.loads((directory / "meta.json").read_text())
    return Features(
        Float32Rows(np.load(directory / "features.npy", mmap_mode="r")),
        np.load(directory / "labels.npy"),
        np.load(directory / "indices.npy"),
        meta,
        directory,
        from_cache=True,
    )


def remove_damaged(directory: Path) -> None:
    """Move a damaged cache aside first, so that a reader never sees it half deleted."""
    doomed = directory.with_name(f"{directory.name}.damaged-{os.getpid()}")
    os.replace(directory, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def array_records(directory: Path) -> dict:
    """The shape and sha256 of each array of a finished cache, for its ``meta.json``."""
    return {
        name: {
            "shape": list(np.load(directory / name, mmap_mode="r").shape),
            "sha256": sha256_of(directory / name),
        }
        for name in ARRAYS
    }
