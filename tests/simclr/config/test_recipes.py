"""Tests of simclr/config/recipes.py: the shipped recipes, found by name or by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from simclr.config import ConfigError, load_config
from simclr.config.recipes import RECIPES, recipe_file, shipped_recipes

ROOT = Path(__file__).resolve().parents[3]


def test_the_clone_s_configs_folder_is_the_shipped_recipes() -> None:
    assert (ROOT / "configs").resolve() == RECIPES.resolve()
    assert RECIPES == Path(__file__).resolve().parents[3] / "simclr" / "recipes"


@pytest.mark.parametrize("name", ["cifar10", "cifar10.yaml", "ablations/temperature"])
def test_a_recipe_is_found_by_name(name: str) -> None:
    expected = RECIPES / f"{name.removesuffix('.yaml')}.yaml"
    assert recipe_file(name) == expected


def test_a_file_of_one_s_own_wins_over_a_recipe_of_the_same_name(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("cifar10").write_text("loss:\n  temperature: 0.3\n")
    assert recipe_file("cifar10") == Path("cifar10")
    assert load_config("cifar10").loss.temperature == 0.3


@pytest.mark.parametrize("name", ["cifar11", "../pyproject", "/nowhere/cifar10", "ablations"])
def test_neither_a_file_nor_a_recipe_is_one_line_naming_it(name: str) -> None:
    with pytest.raises(ConfigError) as error:
        recipe_file(name)
    message = str(error.value)
    assert name in message and "simclr recipes" in message and "\n" not in message


def test_every_yaml_file_is_listed_once_with_what_it_is() -> None:
    recipes = shipped_recipes()
    names = [recipe.name for recipe in recipes]
    on_disk = sorted(
        p.relative_to(RECIPES).with_suffix("").as_posix() for p in RECIPES.rglob("*.yaml")
    )
    assert sorted(names) == on_disk and len(set(names)) == len(names)
    assert names.index("cifar10") < names.index("ablations/temperature")  # recipes, then sweeps
    for recipe in recipes:
        assert recipe.summary and len(recipe.summary) <= 90 and "\n" not in recipe.summary
    summaries = {recipe.name: recipe.summary for recipe in recipes}
    assert summaries["ablations/temperature"] == (
        "SimCLR section 5.1 / table 5: an intermediate temperature works best"
    )
    assert summaries["default"].startswith("The default run")


def test_a_recipe_by_name_loads_as_its_file() -> None:
    assert load_config("cifar10") == load_config(str(ROOT / "configs" / "cifar10.yaml"))
