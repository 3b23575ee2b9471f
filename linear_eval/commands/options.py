"""What the evaluation commands' flags share: the checkpoint, the settings (``--config`` and
``key=value``) and the gallery a command reads, and their translation into a typed config."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linear_eval.config import EvalConfig
    from linear_eval.features.encoders import LoadedEncoder

SETTINGS = (
    "Settings: the evaluation defaults (linear_eval/config.py), the run's data and "
    "normalisation, then --config FILE, then key=value overrides (e.g. knn.k=[20,200])."
)
CHECKPOINT_HELP = "a pretraining .ckpt, an exported encoder.pt (with encoder.yaml) or a run dir"


def add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    parser.add_argument("--config", help="YAML file of evaluation settings")
    parser.add_argument("overrides", nargs="*", metavar="key=value")


def add_gallery_command(
    commands: argparse._SubParsersAction,
    name: str,
    summary: str,
    description: str,
    out_help: str,
    handler,
) -> argparse.ArgumentParser:
    """A sub-command that reads the frozen features of a dataset split or an image folder."""
    parser = commands.add_parser(name, help=summary, description=f"{description} {SETTINGS}")
    add_settings(parser)
    parser.add_argument("--split", help="dataset split (default: the labelled training split)")
    parser.add_argument("--folder", metavar="DIR", help="an image folder instead of the dataset")
    parser.add_argument("--out", help=out_help)
    parser.set_defaults(handler=handler)
    return parser


def load_settings(
    args: argparse.Namespace, settings: dict[str, Any] | None = None
) -> tuple[LoadedEncoder, EvalConfig]:
    """The encoder of ``--checkpoint`` and the settings of ``--config``, the overrides and
    ``settings`` (values that flags set, ``--folder`` among them, assigned as they are)."""
    from linear_eval.features.gallery import load_evaluation

    folder = getattr(args, "folder", None)
    return load_evaluation(args.checkpoint, args.config, args.overrides, folder, settings)


def check_gallery_paths(args: argparse.Namespace) -> None:
    """``--folder`` readable before any work."""
    from simclr.run.paths import check_folder_to_read

    if args.folder:
        check_folder_to_read("--folder", args.folder)
