"""``simclr serve``: its flags read, then :func:`linear_eval.retrieval.serve.serve` (which checks
them before the indexes and encoders are loaded)."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="a local web page to browse the nearest neighbours of gallery or uploaded images",
        description="Serve a page over a run's indexes (RUN/index/*, or one index folder): pick "
        "a gallery image or upload one and see its nearest gallery images with their cosine "
        "similarity, label and file name; click one to search from it. Only the gallery's own "
        "images are served, by row. Also /api/search for JSON.",
    )
    parser.add_argument("run", metavar="RUN", help="a run directory, or an index folder")
    parser.add_argument(
        "--checkpoint", help="the query encoder (default: the one that built each index)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens "
        "the page to the network)",
    )
    parser.add_argument("--port", type=int, default=8000, help="default 8000; 0: any free port")
    parser.add_argument(
        "-k",
        "--top-k",
        type=int,
        default=None,
        help="neighbours a page (default: the index's, or 10)",
    )
    parser.add_argument(
        "--max-upload-mib", type=float, default=20.0, help="the largest upload taken (default 20)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linear_eval.retrieval.serve import serve

    serve(args.run, args.checkpoint, args.host, args.port, args.top_k, args.max_upload_mib)
    return 0
