"""A faiss index over a gallery's frozen representations, saved with what each row is.

Representations are L2-normalised, so the inner product the index computes is the cosine
similarity. Small galleries get an exact index (``IndexFlatIP``); large ones an inverted-file
index (``IndexIVFFlat``, Jegou et al. 2011, "Product quantization for nearest neighbor search",
section 4) whose ``nlist`` cells are k-means centroids and of which ``nprobe`` are searched per
query. ``index.json`` beside ``index.faiss`` records the encoder's fingerprint, the feature
dimension, the preprocessing and what each row is (a dataset index or an image path), and a
query made with a different encoder or dimension is refused.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from omegaconf import OmegaConf

from linear_eval.cache import Features
from linear_eval.config import EvalConfig, RetrievalConfig
from linear_eval.encoders import FeatureExtractor
from linear_eval.features import Preprocessing
from linear_eval.knn import ADD_CHUNK, exact_index, normalized
from simclr.atomic import atomic_write, remove_stale_temporaries, sha256_of, temporary_name
from simclr.errors import ConfigError

INDEX_FILE, META_FILE = "index.faiss", "index.json"
IVF_TRAINING_POINTS_PER_CELL = 256  # faiss k-means samples at most this many points per centroid


class IndexMismatchError(ConfigError):
    """A query's encoder or feature dimension differs from the one that built the index."""


@dataclass
class GalleryIndex:
    """A faiss index and its metadata (``index.json``)."""

    index: faiss.Index
    meta: dict

    def item(self, row: int) -> str | int:
        """Row ``row`` of the index: an image path, or an index into the dataset split."""
        paths = self.meta.get("paths")
        return paths[row] if paths is not None else self.meta["indices"][row]


def index_type_for(size: int, config: RetrievalConfig) -> str:
    """``flat`` (exact) or ``ivf``: from the config, or by gallery size when ``auto``."""
    if config.index_type != "auto":
        return config.index_type
    return "ivf" if size >= config.ivf_threshold else "flat"


def ivf_index(gallery: np.ndarray, nlist: int | None, nprobe: int, seed: int = 0) -> faiss.Index:
    """An IVF inner-product index with ``nlist`` k-means cells (default about 4 sqrt(N))."""
    size, dim = gallery.shape
    nlist = min(size, nlist or max(1, round(4 * math.sqrt(size))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = min(size, nlist * IVF_TRAINING_POINTS_PER_CELL)
    rows = np.sort(np.random.default_rng(seed).choice(size, sample, replace=False))
    index.cp.seed = seed
    index.train(normalized(np.asarray(gallery)[rows]))
    for begin in range(0, size, ADD_CHUNK):
        index.add(normalized(gallery[begin : begin + ADD_CHUNK]))
    index.nprobe = min(nprobe, nlist)
    return index


def build_index(
    features: Features,
    extractor: FeatureExtractor,
    config: EvalConfig,
    checkpoint: str | Path,
) -> GalleryIndex:
    """The index over ``features`` with the metadata needed to check and explain a query."""
    kind = index_type_for(len(features), config.retrieval)
    if kind == "flat":
        index = exact_index(features.representation)
    else:
        index = ivf_index(
            features.representation, config.retrieval.nlist, config.retrieval.nprobe, config.seed
        )
    meta = {
        "encoder_fingerprint": extractor.fingerprint,
        "encoder": extractor.description,
        "feature_dim": int(features.representation.shape[1]),
        "checkpoint": str(Path(checkpoint).resolve()),
        "data": OmegaConf.to_container(OmegaConf.structured(config.data)),
        "split": features.meta["split"],
        "subset": features.meta["subset"],
        "seed": config.seed,
        "preprocessing": features.meta["preprocessing"],
        "index_type": kind,
        "nlist": int(getattr(index, "nlist", 0)),
        "nprobe": int(getattr(index, "nprobe", 0)),
        "count": len(features),
        "classes": features.classes,
        "labels": features.labels.tolist(),
        "paths": features.paths,
        "indices": None if features.paths is not None else features.indices.tolist(),
    }
    return GalleryIndex(index, meta)


def save_index(gallery: GalleryIndex, directory: str | Path) -> Path:
    """``index.faiss`` and ``index.json`` (with the sha256 of the index), each written whole."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    temporary = temporary_name(directory / INDEX_FILE)
    faiss.write_index(gallery.index, str(temporary))
    meta = {**gallery.meta, "index_sha256": sha256_of(temporary)}
    # the index first: a kill between the two renames leaves an index.json that refuses it
    os.replace(temporary, directory / INDEX_FILE)
    atomic_write(directory / META_FILE, (json.dumps(meta) + "\n").encode())
    gallery.meta = meta
    return directory


def load_index(directory: str | Path) -> GalleryIndex:
    """The index saved in ``directory``; a missing, damaged or altered one is a ConfigError."""
    directory = Path(directory)
    if not (directory / INDEX_FILE).is_file() or not (directory / META_FILE).is_file():
        raise ConfigError(f"--index {directory}: no {INDEX_FILE} and {META_FILE} there")

    def damaged(what: str) -> ConfigError:
        return ConfigError(
            f"--index {directory}: {what}: rebuild it with 'simclr index --checkpoint CHECKPOINT "
            f"--out {directory}'"
        )

    try:
        meta = json.loads((directory / META_FILE).read_text())
        expected = meta["index_sha256"]
        kind, count, nprobe = meta["index_type"], meta["count"], meta["nprobe"]
    except (ValueError, KeyError, TypeError) as error:
        raise damaged(f"{META_FILE} is damaged or incomplete ({type(error).__name__})") from None
    if sha256_of(directory / INDEX_FILE) != expected:
        raise damaged(f"{INDEX_FILE} is damaged (its sha256 is not the one recorded)")
    try:
        index = faiss.read_index(str(directory / INDEX_FILE))
    except RuntimeError:
        raise damaged(f"faiss cannot read {INDEX_FILE}") from None
    if index.ntotal != count:
        raise damaged(f"{INDEX_FILE} holds {index.ntotal} vectors, {META_FILE} says {count}")
    gallery = GalleryIndex(index, meta)
    if kind == "ivf":
        faiss.extract_index_ivf(gallery.index).nprobe = nprobe
    return gallery


def preprocessing_of(gallery: GalleryIndex) -> Preprocessing:
    """The preprocessing the gallery's features were extracted with."""
    recorded = gallery.meta["preprocessing"]
    return Preprocessing(
        recorded["image_size"],
        recorded["channels"],
        tuple(recorded["mean"]),
        tuple(recorded["std"]),
        recorded["normalize"],
    )


def check_compatible(gallery: GalleryIndex, extractor: FeatureExtractor, feature_dim: int) -> None:
    """Refuse queries whose encoder or feature dimension is not the index's."""
    built_with, dim = gallery.meta["encoder_fingerprint"], gallery.meta["feature_dim"]
    if feature_dim != dim or gallery.index.d != feature_dim:
        raise IndexMismatchError(
            f"the index holds {dim}-d features but the query encoder gives {feature_dim}-d: "
            "query with the encoder that built it, or rebuild it with 'simclr index'"
        )
    if extractor.fingerprint != built_with:
        raise IndexMismatchError(
            f"the index was built with encoder {built_with[:12]} but the query encoder is "
            f"{extractor.fingerprint[:12]}: query with --checkpoint {gallery.meta['checkpoint']} "
            "or rebuild the index with 'simclr index'"
        )
