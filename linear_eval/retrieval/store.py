"""An index on disk: ``index.faiss`` and ``index.json`` beside it (what each row is, how it was
built, the sha256 of the index), each written whole; loaded only when both agree; and an image
folder's new images appended to a saved index without rebuilding it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss

from linear_eval.features.cache import Features
from linear_eval.features.encoders import FeatureExtractor
from linear_eval.features.vectors import ADD_CHUNK, normalized
from linear_eval.retrieval.compatible import IndexMismatchError, check_compatible
from linear_eval.retrieval.index import GalleryIndex, set_knob
from simclr.errors import ConfigError
from simclr.run.atomic import atomic_write, remove_stale_temporaries, sha256_of, temporary_name

INDEX_FILE, META_FILE = "index.faiss", "index.json"


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
