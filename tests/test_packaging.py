"""pyproject.toml: the wheel a pip user installs carries the recipes and registers every command.

The wheel is built from a copy of the working tree (git's tracked and untracked, not ignored
files), with the installed setuptools and without network.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        origin, copy = ROOT / name, source / name
        if origin.is_symlink() or origin.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, copy, follow_symlinks=False)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    completed = subprocess.run(
        [*command, "--quiet", "-w", str(out), str(source)], capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    (built,) = out.glob("simclr-*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.slow
def test_the_wheel_carries_every_recipe(wheel: zipfile.ZipFile) -> None:
    recipes = ROOT / "simclr" / "recipes"
    shipped = {
        f"simclr/recipes/{p.relative_to(recipes).as_posix()}" for p in recipes.rglob("*.yaml")
    }
    names = set(wheel.namelist())
    assert len(shipped) >= 12 and shipped <= names
    assert not any(name.startswith(("configs/", "tests/", "examples/")) for name in names)
    assert {"simclr/__init__.py", "linear_eval/protocols/knn.py", "ablation/runner.py"} <= names


@pytest.mark.slow
def test_the_wheel_registers_the_command_and_every_sub_command(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert parser["console_scripts"]["simclr"] == "simclr.cli:main"
    assert dict(parser["simclr.commands"]) == {
        "simclr": "simclr.cli.pretrain:register",
        "recipes": "simclr.cli.recipes:register",
        "linear_eval": "linear_eval.commands:register",
        "ablation": "ablation.commands:register",
        "clean": "simclr.cli.clean:register",
    }
