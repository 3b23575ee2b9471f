"""``simclr ablate``: argument parsing for the ablation runner."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``ablate`` to the ``simclr`` parser."""
    parser = commands.add_parser(
        "ablate",
        help="run a sweep of pretraining runs and evaluate each",
        description="Run an ablation (a shipped one by name, e.g. ablations/temperature: "
        "'simclr recipes' lists them; or a YAML file of one's own): each run pretrains and is "
        "evaluated; results.csv, results.md and a plot are written to out_dir/name.",
    )
    parser.add_argument(
        "--config", required=True, metavar="NAME|FILE", help="an ablation recipe or YAML file"
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="changes to the ablation file's keys"
    )
    parser.set_defaults(handler=_ablate)


def _ablate(args: argparse.Namespace) -> int:
    from ablation.config import load_ablation
    from ablation.report import write_markdown, write_plot
    from ablation.runner import run_sweep
    from simclr.run.launch import is_global_rank_zero

    config = load_ablation(args.config, args.overrides)
    result = run_sweep(config)
    if not is_global_rank_zero():
        return 0  # another process of a multi-device sweep: rank 0 writes the report
    markdown = write_markdown(config, result.rows, result.out_dir / "results.md")
    plot = write_plot(config, result.rows, result.out_dir / "results.png")
    print(markdown)
    print(f"results: {result.out_dir / 'results.csv'}, {result.out_dir / 'results.md'}", end="")
    print(f", {plot}" if plot else "")
    return 1 if result.failed else 0
