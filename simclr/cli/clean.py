"""``simclr clean``: argument parsing; the work is :func:`simclr.run.clean.clean_run`."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``clean`` to the ``simclr`` parser."""
    parser = commands.add_parser(
        "clean",
        help="remove the caches a run directory holds (features, stale outputs)",
        description="Remove the feature caches and cached probe results (RUN/features/), the "
        "outputs of a former encoder (RUN/stale/) and, with --checkpoints, the per-epoch "
        "checkpoints (checkpoints/best.ckpt only with --best); print each with its size and the "
        "total freed. Never removes encoder.pt, encoder.yaml, config.yaml, summary.json, "
        "checkpoints/last.ckpt or eval.json.",
    )
    parser.add_argument("run_dir", metavar="RUN", help="a run directory of simclr pretrain")
    parser.add_argument(
        "--checkpoints",
        action="store_true",
        help="also remove the per-epoch checkpoints (checkpoints/last.ckpt is kept, and "
        "checkpoints/best.ckpt unless --best)",
    )
    parser.add_argument(
        "--best",
        action="store_true",
        help="with --checkpoints, also remove checkpoints/best.ckpt (the best probe accuracy)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be removed, remove nothing"
    )
    parser.set_defaults(handler=_clean)


def _clean(args: argparse.Namespace) -> int:
    from simclr.run.clean import clean_run, report_lines
    from simclr.run.paths import check_folder_to_read, check_folder_to_write

    check_folder_to_read("RUN", args.run_dir)
    if not args.dry_run:
        check_folder_to_write("RUN", args.run_dir)
    cleaning = clean_run(
        args.run_dir, checkpoints=args.checkpoints, dry_run=args.dry_run, best=args.best
    )
    print("\n".join(report_lines(cleaning)))
    return 0
