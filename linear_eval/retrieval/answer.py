"""``simclr retrieve``: every query image answered with its nearest gallery images, as text or
one JSON line per query (JSON Lines, printed as answered), each with a PNG grid of the query
beside its neighbours."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from linear_eval.features.encoders import load_encoder
from linear_eval.retrieval.compatible import preprocessing_of
from linear_eval.retrieval.grid import draw_neighbours
from linear_eval.retrieval.index import GalleryIndex
from linear_eval.retrieval.query import gallery_images, retrieve_in_batches
from linear_eval.retrieval.store import load_index
from simclr.errors import ConfigError
from simclr.run.paths import printable

DEFAULT_TOP_K = 5  # neighbours when neither -k nor the index's retrieval.top_k says


def answer_queries(
    index: str | Path,
    paths: list[str],
    checkpoint: str | Path | None = None,
    top_k: int | None = None,
    batch_size: int = 256,
    as_json: bool = False,
    grid_dir: str | Path | None = None,
) -> None:
    """Answer the query images ``paths`` from the index saved in ``index``, encoded by
    ``checkpoint`` (default: the encoder that built the index), ``top_k`` neighbours each
    (default: the index's, else 5), ``batch_size`` at a time; print each answer as text or, with
    ``as_json``, as a JSON line, and draw its grid in ``grid_dir`` (None: no grids). The encoder
    must take the index's images."""
    gallery = load_index(index)
    loaded = load_encoder(checkpoint or gallery.meta["checkpoint"])
    preprocessing = preprocessing_of(gallery)
    if loaded.encoder.in_channels != preprocessing.channels:
        raise ConfigError(
            f"--checkpoint {loaded.source}: takes {loaded.encoder.in_channels}-channel images, "
            f"but the index {index} was built from {preprocessing.channels}-channel ones"
        )
    k = top_k if top_k is not None else gallery.meta.get("top_k") or DEFAULT_TOP_K
    if k > gallery.meta["count"]:
        count = gallery.meta["count"]
        print(f"-k {k}: the gallery holds {count} images; all are returned", file=sys.stderr)
    answers = retrieve_in_batches(gallery, loaded, preprocessing, paths, k, batch_size)
    for path, image, hits in answers:
        print_answer(gallery, path, image, hits, as_json, grid_dir)


def print_answer(
    gallery: GalleryIndex,
    path: str,
    image: torch.Tensor,
    hits: list,
    as_json: bool = False,
    grid_dir: str | Path | None = None,
) -> None:
    """One query's neighbours: a JSON line (``as_json``) or text, and its PNG grid."""
    grid = None
    if grid_dir is not None:
        neighbours = gallery_images(gallery, [hit["row"] for hit in hits])
        titles = [f"{h['score']:.3f}\n{h['class'] or h['label']}" for h in hits]
        target = Path(grid_dir) / f"{Path(path).stem}.png"
        grid = str(draw_neighbours(image, neighbours, titles, target))
    if as_json:
        print(json.dumps({"query": str(path), "neighbours": hits, "grid": grid}), flush=True)
        return
    print(f"query {printable(str(path))}")
    for hit in hits:
        name = f" ({printable(str(hit['class']))})" if hit["class"] else ""
        item = printable(str(hit["item"]))
        print(f"  {hit['rank']:>3}  {hit['score']:.4f}  {item}  label {hit['label']}{name}")
    if grid:
        print(f"  grid: {printable(grid)}")
