"""``simclr retrieve``: every query image answered with its nearest gallery images, as text or
one JSON line per query (JSON Lines, printed as answered), each with a PNG grid of the query
beside its neighbours."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from linear_eval.features.encoders import load_encoder
from linear_eval.retrieval.compatible import preprocessing_of
from linear_eval.retrieval.grid import draw_neighbours
from linear_eval.retrieval.index import GalleryIndex
from linear_eval.retrieval.query import gallery_images, query_paths, retrieve_in_batches
from linear_eval.retrieval.store import load_index
from simclr.errors import ConfigError
from simclr.run.paths import (
    check_file_to_read,
    check_folder_to_read,
    check_folder_to_write,
    printable,
)

DEFAULT_TOP_K = 5  # neighbours when neither -k nor the index's retrieval.top_k says


def answer_queries(args: argparse.Namespace) -> None:
    """Answer the queries of ``args`` (``images``, ``list``, ``index``, ``checkpoint``,
    ``top_k``, ``batch_size``, ``json``, ``grid_dir``, ``no_grid``: the options of
    ``simclr retrieve``), checked before any work: k and the batch size, the query files, the
    index, and an encoder that takes the index's images."""
    if args.top_k is not None and args.top_k < 1:
        raise ConfigError(f"-k {args.top_k} is invalid: must be >= 1")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size} is invalid: must be >= 1")
    if args.list is not None:
        check_file_to_read("--list", args.list)
    check_folder_to_read("--index", args.index)
    if not args.no_grid:
        check_folder_to_write("--grid-dir", grid_dir(args))
    paths = query_paths(args.images, args.list)
    gallery = load_index(args.index)
    loaded = load_encoder(args.checkpoint or gallery.meta["checkpoint"])
    preprocessing = preprocessing_of(gallery)
    if loaded.encoder.in_channels != preprocessing.channels:
        raise ConfigError(
            f"--checkpoint {loaded.source}: takes {loaded.encoder.in_channels}-channel images, "
            f"but the index {args.index} was built from {preprocessing.channels}-channel ones"
        )
    k = args.top_k if args.top_k is not None else gallery.meta.get("top_k") or DEFAULT_TOP_K
    if k > gallery.meta["count"]:
        count = gallery.meta["count"]
        print(f"-k {k}: the gallery holds {count} images; all are returned", file=sys.stderr)
    answers = retrieve_in_batches(gallery, loaded, preprocessing, paths, k, args.batch_size)
    for path, image, hits in answers:
        print_answer(args, gallery, path, image, hits)


def print_answer(
    args: argparse.Namespace, gallery: GalleryIndex, path: str, image: torch.Tensor, hits: list
) -> None:
    """One query's neighbours: a JSON line (``--json``) or text, and its PNG grid."""
    grid = None
    if not args.no_grid:
        neighbours = gallery_images(gallery, [hit["row"] for hit in hits])
        titles = [f"{h['score']:.3f}\n{h['class'] or h['label']}" for h in hits]
        target = grid_dir(args) / f"{Path(path).stem}.png"
        grid = str(draw_neighbours(image, neighbours, titles, target))
    if args.json:
        print(json.dumps({"query": str(path), "neighbours": hits, "grid": grid}), flush=True)
        return
    print(f"query {printable(str(path))}")
    for hit in hits:
        name = f" ({printable(str(hit['class']))})" if hit["class"] else ""
        item = printable(str(hit["item"]))
        print(f"  {hit['rank']:>3}  {hit['score']:.4f}  {item}  label {hit['label']}{name}")
    if grid:
        print(f"  grid: {printable(grid)}")


def grid_dir(args: argparse.Namespace) -> Path:
    """Where the PNG grids go: ``--grid-dir``, else INDEX/retrievals."""
    return Path(args.grid_dir or Path(args.index) / "retrievals")
