"""``simclr finetune``: its flags read and checked, then
:func:`linear_eval.finetune.command.finetune_and_report`."""

from __future__ import annotations

import argparse

from linear_eval.commands.options import SETTINGS, add_settings, load_settings


def register(commands: argparse._SubParsersAction) -> None:
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
    add_settings(parser)
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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linear_eval.finetune.command import finetune_and_report, refuse_external_launcher
    from simclr.run.paths import check_folder_to_write

    refuse_external_launcher("finetune")
    if args.out:
        check_folder_to_write("--out", args.out)
    settings = {}
    if args.baseline:
        settings["finetune"] = {"baselines": [b for b in args.baseline if b != "none"]}
    loaded, config = load_settings(args, settings)
    finetune_and_report(loaded, config, args.out, args.sweep)
    return 0
