"""Sub-commands of ``simclr`` for evaluation: eval, finetune, index, retrieve, embed, plot.

Each handler parses, loads the encoder and config, calls the function that does the work
(:mod:`linear_eval.evaluate`, :mod:`linear_eval.index`, :mod:`linear_eval.retrieval`,
:mod:`linear_eval.embed`, :mod:`linear_eval.plot`, :mod:`linear_eval.finetune_run`) and
prints what it wrote. The ``simclr`` command root finds :func:`register` through the
``simclr.commands`` entry point; this module imports only argparse at the top, so
``simclr --help`` stays light.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

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
    from linear_eval.evaluate import MODES, evaluate, log_to_run
    from linear_eval.gallery import cache_dir, load
    from linear_eval.report import format_table, write_report
    from simclr.errors import ConfigError

    arguments = list(args.arguments)
    mode = arguments.pop(0) if arguments and "=" not in arguments[0] else "all"
    if mode not in MODES:
        raise ConfigError(f"{mode!r} is not one of {', '.join(MODES)} and not a key=value")
    args.overrides = arguments
    loaded, config = load(args)
    report = evaluate(loaded, config, mode, cache_dir(loaded, config))
    print(format_table(report))
    path = write_report(report, args.out or loaded.run_dir)
    print(f"wrote {path}")
    logged = log_to_run(loaded, report["results"][loaded.extractor.name])
    if logged:
        print(f"logged the pretrained encoder's eval/* metrics to {', '.join(logged)}")
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
def _refuse_external_launcher(command: str) -> None:
    """One copy per process would train and write the same run directory: the command starts
    its own processes instead (finetune.devices)."""
    import os

    from simclr.errors import ConfigError
    from simclr.run.launch import launcher_variables_set

    world = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1")))
    if launcher_variables_set() and world > 1:
        raise ConfigError(
            f"simclr {command} was started as {world} processes by a launcher (torchrun, srun): "
            "run it once and set finetune.devices=N, it starts its N processes itself"
        )


def _finetune(args: argparse.Namespace) -> int:
    from linear_eval.finetune_report import format_sweep, format_table
    from linear_eval.finetune_run import finetune, finetune_sweep
    from linear_eval.gallery import load

    _refuse_external_launcher("finetune")
    if args.baseline:
        chosen = [b for b in args.baseline if b != "none"]
        args.overrides = [*args.overrides, f"finetune.baselines=[{','.join(chosen)}]"]
    loaded, config = load(args)
    if args.sweep:
        reports, sweep_dir = finetune_sweep(loaded, config, args.out)
        for report in reports:
            print(format_table(report) + "\n")
        print(format_sweep(reports))
        print(f"wrote {sweep_dir / 'sweep.json'} and {sweep_dir / 'label_efficiency.png'}")
        return 0
    report = finetune(loaded, config, args.out)
    print(format_table(report))
    print(f"wrote {Path(report['run_dir']) / 'finetune.json'}")
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
    from linear_eval.gallery import gallery_features, gallery_name
    from linear_eval.index import append_to_index, build_index, describe, load_index, save_index
    from simclr.errors import ConfigError

    if args.append:
        if not args.folder:
            raise ConfigError("--append INDEX takes the images to add from --folder DIR")
        gallery = load_index(args.append)  # a missing or damaged index stops here
        loaded, config, features = gallery_features(args)
        added = append_to_index(gallery, features, loaded.extractor)
        save_index(gallery, args.append)
        print(
            f"added {added:,} of {len(features):,} images of {args.folder} to {args.append} "
            f"({gallery.meta['count']:,} images; {len(features) - added:,} were already in it)"
        )
        return 0
    loaded, config, features = gallery_features(args)
    gallery = build_index(features, loaded.extractor, config, loaded.source, exact=args.exact)
    directory = Path(args.out or loaded.run_dir / "index" / gallery_name(config, features))
    save_index(gallery, directory)
    meta = gallery.meta
    print(
        f"indexed {meta['count']:,} images of {config.data.name}/{meta['split']} "
        f"({meta['feature_dim']}-d, {meta['index_type']} index) in {directory}"
    )
    print(describe(meta))
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
    from linear_eval.encoders import load_encoder
    from linear_eval.index import check_compatible, load_index, preprocessing_of
    from linear_eval.retrieval import (
        none_readable,
        query_features,
        query_paths,
        read_queries,
        retrieve,
    )
    from simclr.errors import ConfigError

    if args.top_k is not None and args.top_k < 1:
        raise ConfigError(f"-k {args.top_k} is invalid: must be >= 1")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size} is invalid: must be >= 1")
    paths = query_paths(args.images, args.list)
    gallery = load_index(args.index)
    loaded = load_encoder(args.checkpoint or gallery.meta["checkpoint"])
    preprocessing = preprocessing_of(gallery)
    if loaded.encoder.in_channels != preprocessing.channels:
        raise ConfigError(
            f"--checkpoint {loaded.source}: takes {loaded.encoder.in_channels}-channel images, "
            f"but the index {args.index} was built from {preprocessing.channels}-channel ones"
        )
    k = args.top_k if args.top_k is not None else gallery.meta.get("top_k") or 5
    if k > gallery.meta["count"]:
        count = gallery.meta["count"]
        print(f"-k {k}: the gallery holds {count} images; all are returned", file=sys.stderr)
    answered, errors = 0, []
    for begin in range(0, len(paths), args.batch_size):  # memory for one batch of queries
        kept, images, failed = read_queries(
            paths[begin : begin + args.batch_size], preprocessing.channels
        )
        errors += failed
        for error in failed:
            warnings.warn(str(error), stacklevel=2)
        if not kept:
            continue
        queries = query_features(loaded.extractor, images, preprocessing)
        check_compatible(gallery, loaded.extractor, queries.shape[1], loaded.source)
        for path, image, hits in zip(kept, images, retrieve(gallery, queries, k)):
            _answer(args, gallery, path, image, hits)
        answered += len(kept)
    if answered == 0:
        raise none_readable(errors, len(paths))
    if errors:
        print(f"skipped {len(errors)} of {len(paths)} query images", file=sys.stderr)
    return 0


def _answer(args: argparse.Namespace, gallery, path: str, image, hits: list[dict]) -> None:
    """One query's neighbours: a JSON line (``--json``) or text, and its PNG grid."""
    from linear_eval.grid import draw_neighbours
    from linear_eval.retrieval import gallery_images

    grid = None
    if not args.no_grid:
        neighbours = gallery_images(gallery, [hit["row"] for hit in hits])
        titles = [f"{h['score']:.3f}\n{h['class'] or h['label']}" for h in hits]
        target = Path(args.grid_dir or Path(args.index) / "retrievals") / f"{Path(path).stem}.png"
        grid = str(draw_neighbours(image, neighbours, titles, target))
    if args.json:
        print(json.dumps({"query": str(path), "neighbours": hits, "grid": grid}), flush=True)
        return
    print(f"query {path}")
    for hit in hits:
        name = f" ({hit['class']})" if hit["class"] else ""
        print(f"  {hit['rank']:>3}  {hit['score']:.4f}  {hit['item']}  label {hit['label']}{name}")
    if grid:
        print(f"  grid: {grid}")


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


# ----------------------------------------------------------------------------- embed
def _embed(args: argparse.Namespace) -> int:
    from linear_eval.embed import export_embeddings
    from linear_eval.gallery import gallery_features, gallery_name

    loaded, config, features = gallery_features(args)
    directory = Path(args.out or loaded.run_dir / "embeddings" / gallery_name(config, features))
    written = export_embeddings(features, directory, config.embed.csv_max_rows)
    shape = features.representation.shape
    print(f"wrote {shape[0]:,} x {shape[1]} features to {directory}")
    print("  " + ", ".join(p.name for p in written))
    return 0


def _add_embed(commands: argparse._SubParsersAction) -> None:
    _add_gallery_command(
        commands,
        "embed",
        "export frozen features with their labels and indices or paths",
        "Write embeddings.npy, labels.npy, indices.npy or paths.txt, meta.json and, for small "
        "sets, embeddings.csv.",
        "output directory (default: RUN/embeddings/NAME)",
        _embed,
    )


# ----------------------------------------------------------------------------- plot
def _plot(args: argparse.Namespace) -> int:
    from linear_eval.gallery import gallery_features, gallery_name
    from linear_eval.plot import plot_embedding, resolved_method

    if args.method:
        args.overrides = [*args.overrides, f"plot.method={args.method}"]
    loaded, config, features = gallery_features(args)
    method = resolved_method(config.plot.method)
    default = loaded.run_dir / "plots" / f"{gallery_name(config, features)}-{method}.png"
    title = f"{config.data.name}/{features.meta['split']}: {loaded.source}"
    path, method = plot_embedding(
        features.representation,
        features.labels,
        features.classes,
        args.out or default,
        config.plot,
        title,
        config.seed,
    )
    print(f"wrote {path} ({method})")
    return 0


def _add_plot(commands: argparse._SubParsersAction) -> None:
    parser = _add_gallery_command(
        commands,
        "plot",
        "a 2-D map (UMAP, t-SNE or PCA) of frozen features as a PNG",
        "Draw frozen features in 2-D, coloured by label.",
        "PNG path (default: RUN/plots/NAME-METHOD.png)",
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
    """Add eval, finetune, index, retrieve, embed and plot to the ``simclr`` parser."""
    parser_class = commands._parser_class
    commands._parser_class = IntermixedParser
    try:
        for add in (_add_eval, _add_finetune, _add_index, _add_retrieve, _add_embed, _add_plot):
            add(commands)
    finally:
        commands._parser_class = parser_class
