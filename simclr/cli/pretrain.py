"""``simclr pretrain``: argument parsing for a pretraining run; the work is
:func:`simclr.run.train.pretrain`."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``pretrain`` to the ``simclr`` parser."""
    parser = commands.add_parser(
        "pretrain",
        help="pretrain an encoder with SimCLR",
        description="Pretrain an encoder with SimCLR. Settings: the defaults ('simclr recipes "
        "default' prints them), then --config NAME or FILE, then key=value overrides (e.g. "
        "loss.temperature=0.5).",
    )
    parser.add_argument(
        "--config",
        metavar="NAME|FILE",
        help="a shipped recipe ('simclr recipes' lists them, e.g. cifar10) or a YAML file, "
        "merged over the defaults",
    )
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.set_defaults(handler=_pretrain)


def _pretrain(args: argparse.Namespace) -> int:
    from simclr.config import ConfigError, load_config
    from simclr.run.train import pretrain, resume_config

    if args.resume:
        if args.config:
            raise ConfigError("--resume uses the run's own config.yaml: drop --config")
        config = resume_config(args.resume, args.overrides)
    else:
        config = load_config(args.config, args.overrides)
    pretrain(config, resume_dir=args.resume)
    return 0
