"""What ``simclr serve`` answers from: the indexes of a run, each with the encoder that queries
it, its preprocessing and its gallery's images, read by row only and only when asked for (so
starting the server reads no image, whatever the gallery's size)."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from linear_eval.features.encoders import LoadedEncoder, load_encoder
from linear_eval.features.preprocess import Preprocessing
from linear_eval.retrieval.build import describe
from linear_eval.retrieval.compatible import check_compatible, preprocessing_of
from linear_eval.retrieval.index import GalleryIndex
from linear_eval.retrieval.query import query_features, read_query, retrieve
from linear_eval.retrieval.store import META_FILE, load_index
from simclr.config import DataConfig, merge_config
from simclr.data.splits import load_split
from simclr.errors import ConfigError, DataError, SimCLRError


@dataclass
class ServedIndex:
    """One index, the encoder its queries are made with, and why queries are refused (an
    encoder that does not match the index) when they are."""

    name: str
    gallery: GalleryIndex
    loaded: LoadedEncoder
    preprocessing: Preprocessing
    mismatch: str | None = None
    _dataset: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def count(self) -> int:
        return int(self.gallery.meta["count"])

    def summary(self) -> str:
        """The index's kind, size and knob in one line (as ``simclr index`` prints it)."""
        return describe(self.gallery.meta)

    def item_name(self, row: int) -> str:
        """What a person calls gallery row ``row``: its file name, or #i of the dataset split."""
        item = self.gallery.item(row)
        return Path(item).name if isinstance(item, str) else f"{self.split_name()} #{item}"

    def split_name(self) -> str:
        meta = self.gallery.meta
        return f"{(meta.get('data') or {}).get('name', 'dataset')}/{meta.get('split')}"

    def image(self, row: int) -> torch.Tensor:
        """Gallery row ``row`` as uint8 (C, H, W): its file, or its item of the dataset split
        (the split read once, at the first row asked for); a DataError when it cannot be read."""
        item = self.gallery.item(row)
        if isinstance(item, str):
            return read_query(item, self.preprocessing.channels)
        with self._lock:
            if self._dataset is None:
                meta = self.gallery.meta
                data = OmegaConf.to_object(merge_config(DataConfig, [meta["data"]]))
                self._dataset = load_split(data, meta["split"], meta["subset"], meta["seed"])
        return self._dataset[item][0]

    def search(self, image: torch.Tensor, k: int) -> list[dict]:
        """The ``k`` nearest gallery rows of a uint8 query image, as ``simclr retrieve --json``
        gives them (rank, score, row, item, label, class); a ConfigError when the encoder does
        not match the index."""
        if self.mismatch is not None:
            raise ConfigError(self.mismatch)
        with self._lock:  # one model and one faiss index, shared by the server's threads
            queries = query_features(self.loaded.extractor, [image], self.preprocessing)
            return retrieve(self.gallery, queries, k)[0]


def index_folders(target: Path) -> list[Path]:
    """The index folders of ``target``: itself when it holds an index, else RUN/index/* (the
    folders ``simclr index`` writes by default), in name order."""
    if (target / META_FILE).is_file():
        return [target]
    below = target / "index"
    found = (
        sorted(p for p in below.iterdir() if (p / META_FILE).is_file()) if below.is_dir() else []
    )
    if not found:
        raise ConfigError(
            f"{target}: no index to serve (no {META_FILE} in it or in {below}/*): build one with "
            f"'simclr index --checkpoint {target}'"
        )
    return found


def load_served(target: Path, checkpoint: str | None = None) -> list[ServedIndex]:
    """Every index of ``target`` with its query encoder (``checkpoint``, else the one that built
    it). An index that cannot be loaded is skipped with a line on stderr; one whose encoder does
    not match it is kept, and its queries are refused with the reason (a 409 from the server)."""
    encoders: dict[str, LoadedEncoder] = {}
    served, skipped = [], []
    for folder in index_folders(target):
        try:
            gallery = load_index(folder)
            source = checkpoint or gallery.meta["checkpoint"]
            if source not in encoders:
                encoders[source] = load_encoder(source)
        except SimCLRError as error:
            skipped.append(f"{folder.name}: {error}")
            continue
        served.append(matched(folder.name, gallery, encoders[source]))
    for line in skipped:
        print(f"serve: skipping index {line}", file=sys.stderr)
    if not served:
        raise ConfigError(f"{target}: none of its indexes can be served ({skipped[0]})")
    return served


def matched(name: str, gallery: GalleryIndex, loaded: LoadedEncoder) -> ServedIndex:
    """``gallery`` with its query encoder, and why that encoder cannot query it, if it cannot:
    another channel count, feature dimension or set of weights than the index was built with."""
    preprocessing = preprocessing_of(gallery)
    served = ServedIndex(name, gallery, loaded, preprocessing)
    channels = preprocessing.channels
    if loaded.encoder.in_channels != channels:
        served.mismatch = (
            f"the encoder {loaded.source} takes {loaded.encoder.in_channels}-channel images, but "
            f"the index {name} was built from {channels}-channel ones"
        )
        return served
    try:  # f's output is its feature_dim: no forward pass needed to know it
        check_compatible(gallery, loaded.extractor, loaded.encoder.feature_dim, loaded.source)
    except ConfigError as error:
        served.mismatch = f"index {name}: {error}"
    return served


def unreadable_row(served: ServedIndex, row: int, error: DataError) -> str:
    """The line shown for a gallery image that cannot be read."""
    return f"gallery image {row} ({served.item_name(row)}) cannot be read: {error}"
