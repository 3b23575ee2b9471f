"""``simclr recipes``: the shipped recipes by name, or one of them printed."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``recipes`` to the ``simclr`` parser."""
    parser = commands.add_parser(
        "recipes",
        help="list the shipped recipes (for --config NAME), or print one",
        description="The YAML recipes shipped with simclr: pretraining recipes (simclr pretrain "
        "--config NAME) and ablations (simclr ablate --config ablations/NAME). With a NAME, "
        "print that recipe, to copy and edit.",
    )
    parser.add_argument("name", nargs="?", help="a recipe to print (e.g. cifar10)")
    parser.set_defaults(handler=_recipes)


def _recipes(args: argparse.Namespace) -> int:
    from simclr.config.recipes import recipe_file, shipped_recipes
    from simclr.errors import ConfigError

    if args.name:
        path = recipe_file(args.name)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a UTF-8 text file, so not a YAML recipe") from None
        print(text, end="")
        return 0
    recipes = shipped_recipes()
    width = max(len(recipe.name) for recipe in recipes)
    for recipe in recipes:
        print(f"{recipe.name:<{width}}  {recipe.summary}")
    return 0
