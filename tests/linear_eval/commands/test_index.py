"""Tests of linear_eval/commands/index.py: ``simclr index --append`` needs the folder whose
images it adds, refused before the index or the encoder is read."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from linear_eval.commands import index
from simclr.errors import ConfigError


def test_appending_takes_its_images_from_a_folder(run_dir: Path, tmp_path: Path) -> None:
    args = argparse.Namespace(
        checkpoint=str(run_dir), config=None, overrides=[], folder=None, split=None, out=None
    )
    args.exact, args.append = False, str(tmp_path / "index")
    with pytest.raises(ConfigError, match="--append INDEX takes the images to add from --folder"):
        index.run(args)
