"""The recipes shipped inside the package (``simclr/recipes/``; ``configs/`` in a clone), found
by name: ``--config cifar10`` and ``--config ablations/temperature`` work from a pip install as
well as from a clone, and a path to a file of one's own works as before."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from simclr.errors import ConfigError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@dataclass(frozen=True)
class Recipe:
    """A shipped YAML file: its name (``cifar10``, ``ablations/temperature``), path and the
    first line of its leading comment."""

    name: str
    path: Path
    summary: str


def recipe_file(name_or_path: str | Path) -> Path:
    """The YAML file ``name_or_path`` names: an existing file as given, else the shipped recipe
    of that name (``.yaml`` optional). Neither: a one-line ConfigError."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path).removesuffix(".yaml")
    shipped = RECIPES / f"{name}.yaml"
    if not path.is_absolute() and ".." not in Path(name).parts and shipped.is_file():
        return shipped
    raise ConfigError(
        f"config file {str(name_or_path)!r} does not exist and is not a shipped recipe "
        "('simclr recipes' lists them)"
    )


def shipped_recipes() -> list[Recipe]:
    """Every shipped recipe, pretraining recipes first, then ablations, each by name."""
    found = []
    for path in sorted(RECIPES.rglob("*.yaml"), key=lambda p: (len(p.parts), str(p))):
        name = path.relative_to(RECIPES).with_suffix("").as_posix()
        found.append(Recipe(name, path, _summary(path)))
    return found


def _summary(path: Path, width: int = 90) -> str:
    """The first sentence of the file's leading comment, cut at a word to ``width`` characters."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    end = re.search(r"(?<!\bal)\. |; ", text)  # "et al. " does not end a sentence
    text = text[: end.start()] if end else text.rstrip(".")
    if len(text) > width:
        text = text[: text.rfind(" ", 0, width - 1)] + "…"
    return text
