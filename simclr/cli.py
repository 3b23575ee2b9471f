"""The ``simclr`` command: it parses and dispatches; the work lives in importable functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ablation.cli import register_commands as register_ablation_commands
from linear_eval.cli import register_commands
from simclr.config import ConfigError
from simclr.data import DataError
from simclr.divergence import TrainingDiverged


def _add_pretrain(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "pretrain",
        help="pretrain an encoder with SimCLR",
        description="Pretrain an encoder with SimCLR. Settings: configs/default.yaml, then "
        "--config FILE, then key=value overrides (e.g. loss.temperature=0.5).",
    )
    parser.add_argument("--config", help="YAML file merged over the defaults")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.set_defaults(handler=_pretrain)


def _pretrain(args: argparse.Namespace) -> int:
    from simclr.config import load_config
    from simclr.train import pretrain, resume_config

    if args.resume:
        if args.config:
            raise ConfigError("--resume uses the run's own config.yaml: drop --config")
        config = resume_config(args.resume, args.overrides)
    else:
        config = load_config(args.config, args.overrides)
    pretrain(config, resume_dir=args.resume)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simclr", description="SimCLR pretraining and evaluation of image encoders."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_pretrain(commands)
    for register in _EXTRA_COMMANDS:
        register(commands)
    return parser


# other stages (evaluation, ablations) add their sub-commands here
_EXTRA_COMMANDS: list = [register_commands, register_ablation_commands]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, DataError, TrainingDiverged) as error:
        print(f"simclr {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
