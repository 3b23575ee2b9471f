"""Tests of simclr/cli/recipes.py: ``simclr recipes`` lists the shipped recipes or prints one."""

from __future__ import annotations

from simclr.cli import main
from simclr.config.recipes import RECIPES, shipped_recipes


def test_the_list_has_one_line_per_recipe(capsys) -> None:
    assert main(["recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(shipped_recipes())
    assert [line.split()[0] for line in lines] == [r.name for r in shipped_recipes()]
    assert any(line.startswith("ablations/temperature ") for line in lines)


def test_a_recipe_is_printed_as_it_is_shipped(capsys) -> None:
    assert main(["recipes", "cifar10"]) == 0
    assert capsys.readouterr().out == (RECIPES / "cifar10.yaml").read_text()


def test_an_unknown_recipe_is_one_line(capsys) -> None:
    assert main(["recipes", "cifar11"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cifar11" in err


def test_a_binary_file_named_as_a_recipe_is_one_line(tmp_path, capsys) -> None:
    """Found by the property tests: a checkpoint named as a recipe ended in UnicodeDecodeError."""
    binary = tmp_path / "last.ckpt"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00")
    assert main(["recipes", str(binary)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"simclr recipes: error: {binary}: not a UTF-8 text file, so not a YAML recipe"]
