"""What a query must share with the index it searches: the encoder (its weight fingerprint),
the feature dimension and the preprocessing. A query made otherwise is refused in one line that
says how to query instead, or the ``simclr index`` command that rebuilds the index."""

from __future__ import annotations

import shlex
from pathlib import Path

from linear_eval.features.encoders import FeatureExtractor
from linear_eval.features.preprocess import Preprocessing
from linear_eval.retrieval.index import GalleryIndex
from simclr.errors import ConfigError


class IndexMismatchError(ConfigError):
    """A query's encoder or feature dimension differs from the one that built the index."""


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
