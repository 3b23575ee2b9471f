"""``simclr eval``: its flags read and checked, then
:func:`linear_eval.protocols.report.report_evaluation`."""

from __future__ import annotations

import argparse

from linear_eval.commands.options import CHECKPOINT_HELP, SETTINGS, load_settings


def register(commands: argparse._SubParsersAction) -> None:
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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linear_eval.protocols.evaluate import MODES
    from linear_eval.protocols.report import report_evaluation
    from simclr.errors import ConfigError
    from simclr.run.paths import check_folder_to_write

    arguments = list(args.arguments)
    mode = arguments.pop(0) if arguments and "=" not in arguments[0] else "all"
    if mode not in MODES:
        raise ConfigError(f"{mode!r} is not one of {', '.join(MODES)} and not a key=value")
    args.overrides = arguments
    if args.out:
        check_folder_to_write("--out", args.out)
    loaded, config = load_settings(args)
    report_evaluation(loaded, config, mode, args.out)
    return 0
