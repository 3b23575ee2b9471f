"""``simclr pretrain``: argument parsing for a pretraining run and the check of its paths; the
work is :func:`simclr.run.train.pretrain`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


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
    from simclr.run.paths import check_folder_to_read, check_folder_to_write, check_pretrain_paths
    from simclr.run.resume import resume_config
    from simclr.run.train import pretrain

    if args.resume:
        if args.config:
            raise ConfigError("--resume uses the run's own config.yaml: drop --config")
        check_folder_to_write("--resume", check_folder_to_read("--resume", args.resume))
        check_recorded_step(Path(args.resume))
        config = resume_config(args.resume, args.overrides)
    else:
        config = load_config(args.config, args.overrides)
    check_pretrain_paths(config, resumed=bool(args.resume))
    pretrain(config, resume_dir=args.resume)
    return 0


def check_recorded_step(run_dir: Path) -> None:
    """The ``global_step`` a run's summary.json records names a folder when the run is resumed
    (stale/stepN): it must be a whole number."""
    from simclr.errors import ConfigError

    summary = run_dir / "summary.json"
    if not summary.is_file():
        return
    try:
        step = json.loads(summary.read_text()).get("global_step")
    except (OSError, ValueError, AttributeError):
        return  # a damaged summary is rewritten; the step then reads 'unknown'
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise ConfigError(
            f"{summary} global_step={str(step)[:40]!r} is invalid: must be a whole number "
            "(the file was altered)"
        )
