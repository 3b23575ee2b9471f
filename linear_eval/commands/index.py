"""``simclr index``: its flags read and checked, then
:func:`linear_eval.retrieval.indexing.index_gallery` or, with ``--append``,
:func:`linear_eval.retrieval.indexing.append_folder`."""

from __future__ import annotations

import argparse

from linear_eval.commands.options import add_gallery_command, check_gallery_paths, load_settings


def register(commands: argparse._SubParsersAction) -> None:
    parser = add_gallery_command(
        commands,
        "index",
        "build a faiss retrieval index over a gallery",
        "Build a faiss index over the frozen features of a dataset split or an image folder: "
        "exact below retrieval.exact_below images, else HNSW (IVF with 8-bit scalars when it "
        "would exceed retrieval.memory_gib), its search knob calibrated for "
        "retrieval.target_recall.",
        "index directory (default: RUN/index/NAME)",
        run,
    )
    parser.add_argument("--exact", action="store_true", help="the exact (flat) index, any size")
    parser.add_argument(
        "--append",
        metavar="INDEX",
        help="add the images of --folder DIR to this index (not yet in it) without rebuilding",
    )


def run(args: argparse.Namespace) -> int:
    from linear_eval.retrieval.indexing import append_folder, index_gallery
    from linear_eval.retrieval.store import load_index
    from simclr.errors import ConfigError
    from simclr.run.paths import check_folder_to_read, check_folder_to_write

    if args.append:
        if not args.folder:
            raise ConfigError("--append INDEX takes the images to add from --folder DIR")
        check_gallery_paths(args)
        check_folder_to_write("--append", check_folder_to_read("--append", args.append))
        gallery = load_index(args.append)  # a damaged index stops here, before the encoder
        loaded, config = load_settings(args)
        append_folder(gallery, args.append, loaded, config)
        return 0
    check_gallery_paths(args)
    if args.out:
        check_folder_to_write("--out", args.out)
    loaded, config = load_settings(args)
    index_gallery(loaded, config, args.split, args.out, args.exact)
    return 0
