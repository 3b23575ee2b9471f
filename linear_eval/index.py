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

import dataclasses
import json
import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from omegaconf import OmegaConf

from linear_eval.cache import Features
from linear_eval.config import EvalConfig, RetrievalConfig
from linear_eval.encoders import FeatureExtractor
from linear_eval.features import Preprocessing
from linear_eval.knn import ADD_CHUNK, normalized
from simclr.errors import ConfigError
from simclr.run.atomic import atomic_write, remove_stale_temporaries, sha256_of, temporary_name

INDEX_FILE, META_FILE = "index.faiss", "index.json"
IVF_TRAINING_POINTS_PER_CELL = 64  # k-means sample per cell (faiss warns below 39; its cap is 256)


class IndexMismatchError(ConfigError):
    """A query's encoder or feature dimension differs from the one that built the index."""


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
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
EF_SEARCH = (16, 32, 64, 128, 256, 512, 1024)


def index_type_for(size: int, config: RetrievalConfig, dim: int = 512) -> str:
    """The configured index type, or for ``auto`` what benchmarks/retrieval.py measured best
    (README, Performance): exact below ``exact_below`` rows; above, HNSW (the highest recall
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


def build_index(
    features: Features,
    extractor: FeatureExtractor,
    config: EvalConfig,
    checkpoint: str | Path,
    exact: bool = False,
) -> GalleryIndex:
    """The index over ``features`` with the metadata needed to check and explain a query: its
    type (``exact`` forces the flat index), and for an approximate one its knob, calibrated
    for ``retrieval.target_recall`` unless set, with the recall@10 measured for it."""
    settings = config.retrieval
    gallery = features.representation
    kind = "flat" if exact else index_type_for(len(features), settings, gallery.shape[1])
    index = make_index(kind, gallery, settings, config.seed)
    knob = settings.ef_search if kind == "hnsw" else settings.nprobe
    calibration = None
    if kind != "flat":
        if knob is None:  # the fewest reaching the target on gallery rows, times the margin
            reaching, recall, count = calibrate(index, kind, gallery, settings, config.seed)
            knob = set_knob(index, kind, reaching * settings.calibration_margin)
        else:  # set by hand: its recall measured the same way
            measure = dataclasses.replace(settings, target_recall=0.0)
            knob, recall, count = calibrate(index, kind, gallery, measure, config.seed, [knob])
            reaching = None
        calibration = {
            "recall_at_10": round(recall, 4),  # of the gallery rows held out, at ``reaching``
            "reaching": reaching,
            "margin": settings.calibration_margin if reaching is not None else None,
            "target": settings.target_recall,
            "queries": count,
        }
    meta = {
        "encoder_fingerprint": extractor.fingerprint,
        "encoder": extractor.description,
        "feature_dim": int(gallery.shape[1]),
        "checkpoint": str(Path(checkpoint).resolve()),
        "data": OmegaConf.to_container(OmegaConf.structured(config.data)),
        "split": features.meta["split"],
        "subset": features.meta["subset"],
        "seed": config.seed,
        "preprocessing": features.meta["preprocessing"],
        "index_type": kind,
        "factory": FACTORIES[kind].format(
            nlist=nlist_for(len(features), settings.nlist), m=settings.hnsw_m
        ),
        "nlist": int(faiss.extract_index_ivf(index).nlist) if kind.startswith("ivf") else 0,
        "nprobe": int(knob) if kind.startswith("ivf") else 0,
        "ef_search": int(knob) if kind == "hnsw" else 0,
        "calibration": calibration,
        "count": len(features),
        "classes": features.classes,
        "labels": features.labels.tolist(),
        "paths": features.paths,
        "indices": None if features.paths is not None else features.indices.tolist(),
    }
    return GalleryIndex(index, meta)


def append_to_index(gallery: GalleryIndex, features: Features, extractor: FeatureExtractor) -> int:
    """Add the rows of ``features`` (an image folder's) whose files the index does not hold yet,
    without rebuilding: IVF cells keep their centroids, HNSW links the new vectors in. Refused
    in one line when the features come from another encoder or preprocessing, or the index is
    of a dataset split. Class names map onto the index's; new ones are added. Returns the count
    added."""
    meta = gallery.meta
    check_compatible(gallery, extractor, int(features.representation.shape[1]))
    if meta.get("paths") is None or features.paths is None:
        raise ConfigError(
            "--append: only image folders join an index of image folders (this index holds "
            f"rows of {meta['data']['name']}/{meta['split']}): build a new index instead"
        )
    if features.meta["preprocessing"] != meta["preprocessing"]:
        raise IndexMismatchError(
            f"--append: the new images are preprocessed as {features.meta['preprocessing']}, "
            f"the index's as {meta['preprocessing']}: use the same data.* settings"
        )
    held = set(meta["paths"])
    rows = [row for row, path in enumerate(features.paths) if path not in held]
    if not rows:
        return 0
    classes = list(meta.get("classes") or [])
    position = {name: i for i, name in enumerate(classes)}
    for name in features.classes:
        position.setdefault(name, len(classes))
        if len(classes) < len(position):
            classes.append(name)
    labels = [
        position[features.classes[label]] if label >= 0 else -1
        for label in features.labels[rows].tolist()
    ]
    representation = features.representation
    for begin in range(0, len(rows), ADD_CHUNK):
        gallery.index.add(normalized(representation[rows[begin : begin + ADD_CHUNK]]))
    paths = features.paths
    meta.update(
        count=int(gallery.index.ntotal),
        classes=classes,
        labels=meta["labels"] + labels,
        paths=meta["paths"] + [paths[row] for row in rows],
        appended=int(meta.get("appended", 0)) + len(rows),
    )
    return len(rows)


def describe(meta: dict) -> str:
    """One line on what an index is and the recall to expect: for ``simclr index``."""
    kind, count = meta["index_type"], meta["count"]
    if kind == "flat":
        return f"exact index (flat, {count:,} vectors): every query scans the whole gallery"
    names = {"ivf": "IVF-Flat", "ivf_sq8": "IVF-SQ8", "hnsw": "HNSW"}
    if kind == "hnsw":
        knob, name = meta["ef_search"], "efSearch"
        where = f"{count:,} vectors"
    else:
        knob, name = meta["nprobe"], "nprobe"
        where = f"{count:,} vectors in {meta['nlist']:,} cells"
    line = f"{names[kind]} index ({where}), {name} {knob}"
    calibration = meta.get("calibration") or {}
    held_out = f"{calibration.get('queries', 0):,} gallery images held out"
    if calibration.get("reaching") is not None:
        line += (
            f": {name} {calibration['reaching']} reached recall@10 "
            f"{calibration['recall_at_10']:.3f} of exact on {held_out} (target "
            f"{calibration['target']:g}), x{calibration['margin']} for queries from outside "
            "the gallery"
        )
    elif calibration:
        line += f": recall@10 {calibration['recall_at_10']:.3f} of exact on {held_out}"
    return line + "; --exact for the exact index"


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
    gallery.meta, gallery.directory = meta, directory
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
    gallery = GalleryIndex(index, meta, directory)
    if kind.startswith("ivf"):
        set_knob(gallery.index, kind, nprobe)
    elif kind == "hnsw":
        set_knob(gallery.index, kind, meta["ef_search"])
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


def check_compatible(
    gallery: GalleryIndex,
    extractor: FeatureExtractor,
    feature_dim: int,
    query_checkpoint: str | Path | None = None,
) -> None:
    """Refuse queries whose encoder or feature dimension is not the index's. When the query
    encoder was read from the file that built the index (``query_checkpoint``), that file has
    changed since: the error gives the command that rebuilds the index from it."""
    built_with, dim = gallery.meta["encoder_fingerprint"], gallery.meta["feature_dim"]
    recorded = gallery.meta["checkpoint"]
    same_file = query_checkpoint is not None and Path(query_checkpoint).resolve() == Path(recorded)
    if same_file and (feature_dim != dim or extractor.fingerprint != built_with):
        now = f"{feature_dim}-d" if feature_dim != dim else extractor.fingerprint[:12]
        then = f"{dim}-d" if feature_dim != dim else built_with[:12]
        appended = gallery.meta.get("appended")
        later = f", then --append the folders of its {appended:,} later images" if appended else ""
        raise IndexMismatchError(
            f"the encoder at {recorded} changed since the index was built (it was {then}, it "
            f"is {now}): rebuild the index with '{rebuild_command(gallery)}'{later}"
        )
    if feature_dim != dim or gallery.index.d != feature_dim:
        raise IndexMismatchError(
            f"the index holds {dim}-d features but the query encoder gives {feature_dim}-d: "
            "query with the encoder that built it, or rebuild it with 'simclr index'"
        )
    if extractor.fingerprint != built_with:
        raise IndexMismatchError(
            f"the index was built with encoder {built_with[:12]} but the query encoder is "
            f"{extractor.fingerprint[:12]}: query with --checkpoint {recorded} "
            "or rebuild the index with 'simclr index'"
        )


def rebuild_command(gallery: GalleryIndex) -> str:
    """The ``simclr index`` command that builds ``gallery`` again from its recorded checkpoint,
    with the gallery options ``index.json`` records: the dataset split or image folder, its
    subset, the image size, the seed and the index type."""
    meta = gallery.meta
    data = meta.get("data") or {}
    command = ["simclr", "index", "--checkpoint", meta["checkpoint"]]
    if data.get("name") == "folder":
        command += ["--folder", str(data.get("path")), "--split", meta["split"]]
    else:
        command += ["--split", meta["split"], f"data.name={data.get('name')}"]
        if data.get("root") is not None:
            command.append(f"data.root={data['root']}")
    if meta.get("subset") is not None:
        command.append(f"data.subset={meta['subset']:g}")
    image_size = (meta.get("preprocessing") or {}).get("image_size")
    if image_size is not None:
        command.append(f"data.image_size={image_size}")
    if meta.get("seed", 0) != 0:
        command.append(f"seed={meta['seed']}")
    command.append(f"retrieval.index_type={meta['index_type']}")
    if gallery.directory is not None:
        command += ["--out", str(gallery.directory)]
    return shlex.join(command)
