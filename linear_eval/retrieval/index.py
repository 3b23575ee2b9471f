"""A faiss index over a gallery's frozen representations, and the index types to choose from.

Representations are L2-normalised, so the inner product the index computes is the cosine
similarity. Small galleries get an exact index (``IndexFlatIP``); large ones HNSW (Malkov and
Yashunin 2018, "Efficient and robust approximate nearest neighbor search using Hierarchical
Navigable Small World graphs") or an inverted-file index (``IndexIVFFlat``, Jegou et al. 2011,
"Product quantization for nearest neighbor search", section 4) whose ``nlist`` cells are k-means
centroids and of which ``nprobe`` are searched per query, with whole vectors or 8-bit scalars.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from linear_eval.config import RetrievalConfig
from linear_eval.features.vectors import ADD_CHUNK, normalized

IVF_TRAINING_POINTS_PER_CELL = 64  # k-means sample per cell (faiss warns below 39; its cap is 256)


@dataclass
class GalleryIndex:
    """A faiss index, its metadata (``index.json``) and the directory it was saved in."""

    index: faiss.Index
    meta: dict
    directory: Path | None = None

    def item(self, row: int) -> str | int:
        """Row ``row`` of the index: an image path, or an index into the dataset split."""
        paths = self.meta.get("paths")
        return paths[row] if paths is not None else self.meta["indices"][row]


FACTORIES = {
    "flat": "Flat",
    "ivf": "IVF{nlist},Flat",
    "ivf_sq8": "IVF{nlist},SQ8",
    "hnsw": "HNSW{m}",
}


def index_type_for(size: int, config: RetrievalConfig, dim: int = 512) -> str:
    """The configured index type, or for ``auto`` what benchmarks/retrieval.py measured best
    (docs/performance.md): exact below ``exact_below`` rows; above, HNSW (the highest recall
    at a given speed, at 1,000,000 rows 66x the exact index's batch speed at recall@10 0.957)
    when its vectors and links fit in ``memory_gib`` (null: a quarter of this machine's
    memory), else IVF with 8-bit scalars (a quarter of the float32 vectors' memory)."""
    if config.index_type != "auto":
        return config.index_type
    if size < config.exact_below:
        return "flat"
    budget = config.memory_gib if config.memory_gib is not None else physical_gib() / 4
    return (
        "hnsw" if size * hnsw_bytes_per_vector(dim, config.hnsw_m) <= budget * 2**30 else "ivf_sq8"
    )


def hnsw_bytes_per_vector(dim: int, links: int) -> int:
    """The float32 vector, the 2 x links neighbour ids of the bottom layer, and about two more
    for the upper layers (HNSW32 over 1,000,000 x 512: 2.15 GiB; 2,213 MiB measured)."""
    return 4 * dim + 4 * (2 * links + 2)


def physical_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def nlist_for(size: int, nlist: int | None) -> int:
    """IVF cells: ``nlist``, or about 4 sqrt(N) (faiss's guideline: 4 to 16 sqrt(N))."""
    return max(1, min(size, nlist or round(4 * math.sqrt(size))))


def make_index(kind: str, gallery: np.ndarray, config: RetrievalConfig, seed: int = 0):
    """A trained, filled inner-product index of ``kind`` over the L2-normalised ``gallery``
    rows (read in chunks, so a memory-mapped gallery is never copied whole)."""
    size, dim = gallery.shape
    nlist = nlist_for(size, config.nlist)
    factory = FACTORIES[kind].format(nlist=nlist, m=config.hnsw_m)
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:  # IVF: k-means on a seeded sample of the gallery
        sample = min(size, nlist * IVF_TRAINING_POINTS_PER_CELL)
        rows = np.sort(np.random.default_rng(seed).choice(size, sample, replace=False))
        faiss.extract_index_ivf(index).cp.seed = seed
        index.train(normalized(np.asarray(gallery[rows])))
    for begin in range(0, size, ADD_CHUNK):
        index.add(normalized(gallery[begin : begin + ADD_CHUNK]))
    return index


def ivf_index(gallery: np.ndarray, nlist: int | None, nprobe: int, seed: int = 0) -> faiss.Index:
    """An IVF index with whole vectors, ``nlist`` cells (default about 4 sqrt(N)) and
    ``nprobe`` of them searched per query."""
    index = make_index("ivf", gallery, RetrievalConfig(nlist=nlist), seed)
    set_knob(index, "ivf", nprobe)
    return index


def set_knob(index: faiss.Index, kind: str, value: int) -> int:
    """Set IVF's nprobe (at most nlist) or HNSW's efSearch; the value set."""
    if kind.startswith("ivf"):
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = min(value, ivf.nlist)
        return int(ivf.nprobe)
    if kind == "hnsw":
        index.hnsw.efSearch = value
    return value
