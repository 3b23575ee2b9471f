"""``simclr retrieve``: its flags read and checked, then
:func:`linear_eval.retrieval.answer.answer_queries`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "retrieve",
        help="the nearest gallery images of query images",
        description="Print the top-k gallery neighbours of each query image (files, folders or "
        "a --list file, answered in batches) with their cosine scores, and write a PNG of each "
        "query beside its neighbours.",
    )
    parser.add_argument(
        "images", nargs="*", metavar="IMAGE", help="query image files, or folders of them"
    )
    parser.add_argument("--list", metavar="FILE", help="a file of query image paths, one a line")
    parser.add_argument(
        "--batch-size", type=int, default=256, help="queries encoded and searched at once"
    )
    parser.add_argument("--index", required=True, metavar="DIR", help="built by 'simclr index'")
    parser.add_argument(
        "--checkpoint", help="the query encoder (default: the one that built the index)"
    )
    parser.add_argument("-k", "--top-k", type=int, default=None, help="neighbours (default 5)")
    parser.add_argument(
        "--json", action="store_true", help="one JSON line per query (JSON Lines), as answered"
    )
    parser.add_argument("--grid-dir", metavar="DIR", help="PNG grids (default: INDEX/retrievals)")
    parser.add_argument("--no-grid", action="store_true", help="do not write PNG grids")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The options checked before any work: k and the batch size, the query files, the index
    and the folder of the grids."""
    from linear_eval.retrieval.answer import answer_queries
    from linear_eval.retrieval.query import query_paths
    from simclr.errors import ConfigError
    from simclr.run.paths import check_file_to_read, check_folder_to_read, check_folder_to_write

    if args.top_k is not None and args.top_k < 1:
        raise ConfigError(f"-k {args.top_k} is invalid: must be >= 1")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size} is invalid: must be >= 1")
    if args.list is not None:
        check_file_to_read("--list", args.list)
    check_folder_to_read("--index", args.index)
    grid_dir = None if args.no_grid else Path(args.grid_dir or Path(args.index) / "retrievals")
    if grid_dir is not None:
        check_folder_to_write("--grid-dir", grid_dir)
    paths = query_paths(args.images, args.list)
    answer_queries(
        args.index, paths, args.checkpoint, args.top_k, args.batch_size, args.json, grid_dir
    )
    return 0
