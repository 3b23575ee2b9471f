"""``simclr plot``: its flags read and checked, then
:func:`linear_eval.protocols.plot.plot_gallery`."""

from __future__ import annotations

import argparse

from linear_eval.commands.options import add_gallery_command, check_gallery_paths, load_settings


def register(commands: argparse._SubParsersAction) -> None:
    parser = add_gallery_command(
        commands,
        "plot",
        "a 2-D map (UMAP, t-SNE or PCA) of frozen features as a PNG",
        "Draw frozen features in 2-D, coloured by label.",
        "PNG file (.png added when missing), or a folder for NAME-METHOD.png (default: "
        "RUN/plots/NAME-METHOD.png)",
        run,
    )
    parser.add_argument(
        "--method", metavar="{auto,umap,tsne,pca}", help="default: plot.method (auto)"
    )


def run(args: argparse.Namespace) -> int:
    from linear_eval.protocols.plot import check_plot_out, plot_gallery

    check_gallery_paths(args)
    if args.out:
        check_plot_out(args.out)
    settings = {"plot": {"method": args.method}} if args.method else {}
    loaded, config = load_settings(args, settings)
    plot_gallery(loaded, config, args.split, args.out)
    return 0
