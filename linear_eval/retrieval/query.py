"""Queries against a gallery index: query images read and encoded as the gallery was, their
nearest gallery rows, and the gallery images of those rows; many queries answered a batch at a
time, so memory holds one batch of images whatever their number."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from linear_eval.features.encoders import FeatureExtractor, LoadedEncoder, frozen
from linear_eval.features.preprocess import Preprocessing, select_device
from linear_eval.features.vectors import search
from linear_eval.retrieval.compatible import check_compatible
from linear_eval.retrieval.index import GalleryIndex
from simclr.config import DataConfig, merge_config
from simclr.data.splits import load_split
from simclr.errors import DataError
from simclr.preprocess import UNREADABLE_IMAGE, decode_image, prepare_image


def read_query(path: str | Path, channels: int) -> torch.Tensor:
    """A query image file as uint8 (channels, H, W); an unreadable one is a one-line DataError."""
    try:
        return decode_image(path, channels)
    except UNREADABLE_IMAGE as error:
        raise DataError(f"cannot read query image {str(path)!r}: {error}") from None


def query_paths(arguments: list[str], list_file: str | None = None) -> list[str]:
    """The query images in order: each argument a file, or a folder standing for every image
    below it (sorted), then the lines of ``list_file`` (one path per line; blank lines and
    lines starting with # skipped). A file that cannot be read is skipped later, counted."""
    from simclr.data.images import is_image_file, no_images_found

    paths: list[str] = []
    for argument in arguments:
        if Path(argument).is_dir():
            found = sorted(str(p) for p in Path(argument).rglob("*") if is_image_file(p))
            if not found:
                raise DataError(f"query folder {argument!r} {no_images_found(Path(argument))}")
            paths += found
        else:
            paths.append(argument)
    if list_file is not None:
        try:
            lines = Path(list_file).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"--list {list_file!r} cannot be read: {error}") from None
        paths += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not paths:
        raise DataError("no query images: give image files, folders or --list FILE")
    return paths


def read_queries(paths: list[str], channels: int) -> tuple[list[str], list, list[DataError]]:
    """The query images of ``paths`` that decode, their paths, and the errors of the others."""
    kept, images, errors = [], [], []
    for path in paths:
        try:
            images.append(read_query(path, channels))
            kept.append(path)
        except DataError as error:
            errors.append(error)
    return kept, images, errors


def none_readable(errors: list[DataError], total: int) -> DataError:
    """The one-line error when none of ``total`` query images decodes: the only one's own
    error, or the count and the first."""
    if len(errors) == 1:
        return errors[0]
    return DataError(f"none of the {total} query images is readable ({errors[0]})")


def readable_queries(paths: list[str], channels: int) -> tuple[list[str], list[torch.Tensor]]:
    """The query images that decode, with their paths; each that does not is warned about by
    name (the caller can count them). When none does, the DataError says why in one line."""
    kept, images, errors = read_queries(paths, channels)
    if not kept:
        raise none_readable(errors, len(paths))
    for error in errors:
        warnings.warn(str(error), stacklevel=2)
    return kept, images


def gallery_images(gallery: GalleryIndex, rows: list[int]) -> list[torch.Tensor]:
    """The uint8 (C, H, W) images of gallery ``rows``: read from their files or the dataset."""
    channels = gallery.meta["preprocessing"]["channels"]
    if gallery.meta.get("paths") is not None:
        return [read_query(gallery.item(row), channels) for row in rows]
    data = merge_config(DataConfig, [gallery.meta["data"]])
    meta = gallery.meta
    dataset = load_split(OmegaConf.to_object(data), meta["split"], meta["subset"], meta["seed"])
    return [dataset[gallery.item(row)][0] for row in rows]


def query_features(
    extractor: FeatureExtractor, images: list[torch.Tensor], preprocessing: Preprocessing
) -> np.ndarray:
    """Representations (Q, D) of uint8 query images, preprocessed as the gallery was."""
    device = select_device("auto")
    batch = torch.stack(
        [prepare_image(i, preprocessing.image_size, preprocessing.channels) for i in images]
    )
    model = extractor.model.to(device)
    with frozen(model):
        return model(preprocessing.module().to(device)(batch.to(device))).float().cpu().numpy()


def retrieve(gallery: GalleryIndex, queries: np.ndarray, k: int) -> list[list[dict]]:
    """For each query, its k nearest gallery rows: rank, cosine score, item and label."""
    similarities, rows = search(gallery.index, queries, k)
    classes, labels = gallery.meta.get("classes") or [], gallery.meta["labels"]
    results = []
    for scores, neighbours in zip(similarities, rows):
        hits = []
        for rank, (score, row) in enumerate(zip(scores.tolist(), neighbours.tolist()), start=1):
            if row < 0:  # an IVF search that visited fewer than k gallery rows
                continue
            label = labels[row]
            hits.append(
                {
                    "rank": rank,
                    "score": score,
                    "row": row,
                    "item": gallery.item(row),
                    "label": label,
                    "class": classes[label] if 0 <= label < len(classes) else None,
                }
            )
        results.append(hits)
    return results


def retrieve_in_batches(
    gallery: GalleryIndex,
    loaded: LoadedEncoder,
    preprocessing: Preprocessing,
    paths: list[str],
    k: int,
    batch_size: int,
) -> Iterator[tuple[str, torch.Tensor, list[dict]]]:
    """(path, uint8 image, its k nearest gallery rows) of every query of ``paths`` that decodes,
    in order, ``batch_size`` queries read, encoded and searched at a time. Each query that does
    not decode is warned about by name and counted on stderr at the end; when none does, the
    DataError says why in one line. A query encoder the index was not built with is refused
    (:func:`linear_eval.retrieval.compatible.check_compatible`) before the first answer."""
    answered, errors = 0, []
    for begin in range(0, len(paths), batch_size):  # memory for one batch of queries
        kept, images, failed = read_queries(
            paths[begin : begin + batch_size], preprocessing.channels
        )
        errors += failed
        for error in failed:
            # named at the command root's call of ``simclr retrieve``, as the command warns
            warnings.warn(str(error), stacklevel=4)
        if not kept:
            continue
        queries = query_features(loaded.extractor, images, preprocessing)
        check_compatible(gallery, loaded.extractor, queries.shape[1], loaded.source)
        yield from zip(kept, images, retrieve(gallery, queries, k))
        answered += len(kept)
    if answered == 0:
        raise none_readable(errors, len(paths))
    if errors:
        print(f"skipped {len(errors)} of {len(paths)} query images", file=sys.stderr)
