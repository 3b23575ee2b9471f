"""The ``simclr`` command root: it parses and dispatches, and knows no command itself.

Each package registers its sub-commands through the ``simclr.commands`` entry point group of
its distribution (``pyproject.toml``): ``simclr`` adds pretrain (and ``recipes``, the shipped
YAML files, and ``clean``, which removes a run's caches), ``linear_eval`` adds eval, index,
retrieve, embed and plot, ``ablation`` adds ablate. A registering module imports only
argparse; each command imports its work when it runs, so ``simclr --help`` loads no Lightning,
Kornia or torch, and the core package never imports the packages built on it.

A :class:`SimCLRError` is printed as one line with status 2; so is an OS error that still
happens after the checks of the paths (a disk filling during a write, a permission changed):
``simclr COMMAND: error: PATH: words (ENAME)``. Files are written atomically, so nothing earlier
is lost.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points

from simclr.errors import SimCLRError

COMMAND_GROUP = "simclr.commands"
# the order of the help text: the data flow (pretrain, then evaluation, then sweeps of both),
# then the recipes they read, then the clean-up of what they cached
PACKAGE_ORDER = ("simclr", "linear_eval", "ablation", "recipes", "clean")


def registered_commands() -> list[EntryPoint]:
    """The entry points of ``simclr.commands``: core first, then in the data flow's order."""
    found = {point.name: point for point in entry_points(group=COMMAND_GROUP)}
    order = {name: index for index, name in enumerate(PACKAGE_ORDER)}
    return sorted(found.values(), key=lambda point: (order.get(point.name, len(order)), point.name))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simclr", description="SimCLR pretraining and evaluation of image encoders."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    points = registered_commands()
    if not points:
        parser.error(
            f"no commands are registered in the entry point group {COMMAND_GROUP!r}: install "
            "the package (pip install -e . in a clone)"
        )
    for point in points:
        point.load()(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SimCLRError as error:
        # a run stopped by a signal is not an error of the input: 128 + the signal number
        code = getattr(error, "exit_code", 2)
        if getattr(error, "announce", True):
            kind = "error: " if code == 2 else ""
            print(f"simclr {args.command}: {kind}{error}", file=sys.stderr)
        return code
    except BrokenPipeError:  # whoever read the output stopped reading (| head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a disk filling during a write, a permission changed: one line
        from simclr.run.paths import os_error_line

        print(f"simclr {args.command}: error: {os_error_line(error)}", file=sys.stderr)
        return 2
