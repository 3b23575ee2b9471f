"""``simclr embed``: its flags read and checked, then
:func:`linear_eval.features.embed.embed_gallery`."""

from __future__ import annotations

import argparse

from linear_eval.commands.options import add_gallery_command, check_gallery_paths, load_settings


def register(commands: argparse._SubParsersAction) -> None:
    parser = add_gallery_command(
        commands,
        "embed",
        "export frozen features with their labels and indices or paths",
        "Write embeddings.npy, labels.npy, indices.npy or paths.txt, meta.json and, for small "
        "sets, embeddings.csv; with --projector, also what TensorBoard's embedding projector "
        "reads, in OUT/projector (tensorboard --logdir OUT/projector).",
        "output directory (default: RUN/embeddings/NAME)",
        run,
    )
    parser.add_argument(
        "--projector",
        action="store_true",
        help="also write the projector's config, tensor and metadata TSVs and image sprite",
    )
    parser.add_argument(
        "--projector-points",
        type=int,
        metavar="N",
        help="the most images shown, a seeded sample above it (default 10000, at most 100000)",
    )


def run(args: argparse.Namespace) -> int:
    """The options and paths checked before any work, then the export."""
    from pathlib import Path

    from linear_eval.features.embed import embed_gallery
    from linear_eval.features.projector import FOLDER
    from simclr.run.paths import check_folder_to_write

    max_points = projector_points(args)
    check_gallery_paths(args)
    if args.out:
        check_folder_to_write("--out", args.out)
        if max_points:
            check_folder_to_write("--out", Path(args.out) / FOLDER)
    loaded, config = load_settings(args)
    embed_gallery(loaded, config, args.split, args.out, max_points)
    return 0


def projector_points(args: argparse.Namespace) -> int:
    """The most points the projector shows; 0 without ``--projector``."""
    from linear_eval.features.projector import DEFAULT_POINTS, check_max_points
    from simclr.errors import ConfigError

    points = args.projector_points
    if not args.projector:
        if points is not None:
            raise ConfigError("--projector-points is read only with --projector")
        return 0
    points = DEFAULT_POINTS if points is None else points
    check_max_points("--projector-points", points)
    return points
