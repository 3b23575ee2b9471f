"""Sub-commands of ``simclr`` for evaluation: eval, finetune, index, retrieve, embed, plot.

This module only parses and dispatches: each handler reads its options and calls the function
that does the command's work and prints what it wrote (``eval``:
:func:`linear_eval.protocols.report.report_evaluation`, ``finetune``:
:func:`linear_eval.finetune.command.finetune_and_report`, ``index``:
:mod:`linear_eval.retrieval.indexing`, ``retrieve``:
:func:`linear_eval.retrieval.answer.answer_queries`, ``embed``:
:func:`linear_eval.features.embed.embed_gallery`, ``plot``:
:func:`linear_eval.protocols.plot.plot_gallery`). The ``simclr`` command root finds
:func:`register` through the ``simclr.commands`` entry point; this module imports only argparse
at the top (each handler imports its work when it runs), so ``simclr --help`` stays light.
"""

from __future__ import annotations

import argparse

SETTINGS = (
    "Settings: the evaluation defaults (linear_eval/config.py), the run's data and "
    "normalisation, then --config FILE, then key=value overrides (e.g. knn.k=[20,200])."
)
CHECKPOINT_HELP = "a pretraining .ckpt, an exported encoder.pt (with encoder.yaml) or a run dir"


def _add_common(parser: argparse.ArgumentParser, checkpoint_required: bool = True) -> None:
    parser.add_argument(
        "--checkpoint",
        required=checkpoint_required,
        help=CHECKPOINT_HELP,
    )
    parser.add_argument("--config", help="YAML file of evaluation settings")
    parser.add_argument("overrides", nargs="*", metavar="key=value")


def _add_gallery_command(
    commands: argparse._SubParsersAction,
    name: str,
    summary: str,
    description: str,
    out_help: str,
    handler,
) -> argparse.ArgumentParser:
    """A sub-command that reads the frozen features of a dataset split or an image folder."""
    parser = commands.add_parser(name, help=summary, description=f"{description} {SETTINGS}")
    _add_common(parser)
    parser.add_argument("--split", help="dataset split (default: the labelled training split)")
    parser.add_argument("--folder", metavar="DIR", help="an image folder instead of the dataset")
    parser.add_argument("--out", help=out_help)
    parser.set_defaults(handler=handler)
    return parser


# ----------------------------------------------------------------------------- eval
def _eval(args: argparse.Namespace) -> int:
    from linear_eval.protocols.evaluate import MODES
    from linear_eval.protocols.report import report_evaluation
    from simclr.errors import ConfigError

    arguments = list(args.arguments)
    mode = arguments.pop(0) if arguments and "=" not in arguments[0] else "all"
    if mode not in MODES:
        raise ConfigError(f"{mode!r} is not one of {', '.join(MODES)} and not a key=value")
    args.overrides = arguments
    report_evaluation(args, mode)
    return 0


def _add_eval(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="kNN and linear evaluation of a pretrained encoder beside baselines",
        description="Weighted kNN and linear probe on frozen features of the pretrained "
        "encoder, a random-init encoder and raw pixels; prints a table and writes eval.json. "
        "Features and results are cached in RUN/features: a repeat with the same settings "
        "reads them ('simclr clean RUN' removes them). " + SETTINGS,
    )
    parser.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    parser.add_argument("--config", help="YAML file of evaluation settings")
    parser.add_argument(
        "arguments",
        nargs="*",
        metavar="[knn|linear|all] key=value",
        help="what to evaluate (default: all), then settings overrides",
    )
    parser.add_argument("--out", metavar="DIR", help="where eval.json goes (default: run dir)")
    parser.set_defaults(handler=_eval)


# ----------------------------------------------------------------------------- finetune
def _finetune(args: argparse.Namespace) -> int:
    from linear_eval.finetune.command import finetune_and_report

    if args.baseline:
        chosen = [b for b in args.baseline if b != "none"]
        args.overrides = [*args.overrides, f"finetune.baselines=[{','.join(chosen)}]"]
    finetune_and_report(args)
    return 0


def _add_finetune(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "finetune",
        help="fine-tune f on few labels beside training from scratch and the linear probe",
        description="Fine-tune the whole pretrained encoder and a new linear layer on a "
        "class-balanced, seeded subset of the training labels (finetune.label_fraction or "
        "finetune.labels_per_class; SimCLR appendix B.5), train the same architecture from "
        "scratch and a linear probe on the frozen features of the same labels, and print "
        "their top-1 / top-5 on the test split; writes RUN/finetune/NAME/finetune.json. "
        + SETTINGS,
    )
    _add_common(parser)
    parser.add_argument(
        "--baseline",
        action="append",
        choices=("scratch", "linear", "none"),
        help="baselines beside the fine-tuned f, repeatable (default: finetune.baselines, "
        "scratch and linear); none: only fine-tune",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="run every fraction of finetune.sweep_fractions and draw the label-efficiency plot",
    )
    parser.add_argument("--out", metavar="DIR", help="run directory (default: RUN/finetune/NAME)")
    parser.set_defaults(handler=_finetune)


# ----------------------------------------------------------------------------- index
def _index(args: argparse.Namespace) -> int:
    from linear_eval.retrieval.indexing import append_folder, index_gallery

    if args.append:
        append_folder(args)
    else:
        index_gallery(args)
    return 0


def _add_index(commands: argparse._SubParsersAction) -> None:
    parser = _add_gallery_command(
        commands,
        "index",
        "build a faiss retrieval index over a gallery",
        "Build a faiss index over the frozen features of a dataset split or an image folder: "
        "exact below retrieval.exact_below images, else HNSW (IVF with 8-bit scalars when it "
        "would exceed retrieval.memory_gib), its search knob calibrated for "
        "retrieval.target_recall.",
        "index directory (default: RUN/index/NAME)",
        _index,
    )
    parser.add_argument("--exact", action="store_true", help="the exact (flat) index, any size")
    parser.add_argument(
        "--append",
        metavar="INDEX",
        help="add the images of --folder DIR to this index (not yet in it) without rebuilding",
    )


# ----------------------------------------------------------------------------- retrieve
def _retrieve(args: argparse.Namespace) -> int:
    from linear_eval.retrieval.answer import answer_queries

    answer_queries(args)
    return 0


def _add_retrieve(commands: argparse._SubParsersAction) -> None:
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
    parser.set_defaults(handler=_retrieve)


# ----------------------------------------------------------------------------- serve
def _serve(args: argparse.Namespace) -> int:
    from linear_eval.retrieval.serve import serve

    serve(args)
    return 0


def _add_serve(commands: argparse._SubParsersAction) -> None:
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
    parser.set_defaults(handler=_serve)


# ----------------------------------------------------------------------------- embed
def _embed(args: argparse.Namespace) -> int:
    from linear_eval.features.embed import embed_gallery

    embed_gallery(args)
    return 0


def _add_embed(commands: argparse._SubParsersAction) -> None:
    parser = _add_gallery_command(
        commands,
        "embed",
        "export frozen features with their labels and indices or paths",
        "Write embeddings.npy, labels.npy, indices.npy or paths.txt, meta.json and, for small "
        "sets, embeddings.csv; with --projector, also what TensorBoard's embedding projector "
        "reads, in OUT/projector (tensorboard --logdir OUT/projector).",
        "output directory (default: RUN/embeddings/NAME)",
        _embed,
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


# ----------------------------------------------------------------------------- plot
def _plot(args: argparse.Namespace) -> int:
    from linear_eval.protocols.plot import plot_gallery

    if args.method:
        args.overrides = [*args.overrides, f"plot.method={args.method}"]
    plot_gallery(args)
    return 0


def _add_plot(commands: argparse._SubParsersAction) -> None:
    parser = _add_gallery_command(
        commands,
        "plot",
        "a 2-D map (UMAP, t-SNE or PCA) of frozen features as a PNG",
        "Draw frozen features in 2-D, coloured by label.",
        "PNG file (.png added when missing), or a folder for NAME-METHOD.png (default: "
        "RUN/plots/NAME-METHOD.png)",
        _plot,
    )
    parser.add_argument(
        "--method", metavar="{auto,umap,tsne,pca}", help="default: plot.method (auto)"
    )


class IntermixedParser(argparse.ArgumentParser):
    """Options and positionals in any order: ``eval knn --checkpoint RUN knn.k=[20]``."""

    _parsing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._parsing:  # the intermixed parse calls back here for its two passes
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False


def register(commands: argparse._SubParsersAction) -> None:
    """Add eval, finetune, index, retrieve, serve, embed and plot to the ``simclr`` parser."""
    parser_class = commands._parser_class
    commands._parser_class = IntermixedParser
    try:
        commands_in_order = (
            _add_eval,
            _add_finetune,
            _add_index,
            _add_retrieve,
            _add_serve,
            _add_embed,
            _add_plot,
        )
        for add in commands_in_order:
            add(commands)
    finally:
        commands._parser_class = parser_class
