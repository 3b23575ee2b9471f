"""Tests of linear_eval/retrieval/indexing.py: the work of ``simclr index`` called without the
command line: the index built and saved where asked, and what it says it wrote."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from linear_eval.retrieval.indexing import append_folder, index_gallery
from linear_eval.retrieval.store import load_index
from simclr.errors import ConfigError


def _args(run_dir: Path, *overrides: str, **options) -> argparse.Namespace:
    settings = {"checkpoint": str(run_dir), "config": None, "folder": None, "split": None}
    settings.update(out=None, exact=False, append=None)
    return argparse.Namespace(**settings | options, overrides=list(overrides))


@pytest.mark.usefixtures("single_thread")
def test_the_index_of_a_split_is_saved_and_described(run_dir: Path, synthetic, capsys) -> None:
    directory = index_gallery(_args(run_dir, *synthetic.eval_overrides, split="test"))
    assert directory == run_dir / "index" / "synthetic_eval-test"
    assert load_index(directory).meta["count"] == 32
    first, second = capsys.readouterr().out.splitlines()
    assert first == f"indexed 32 images of synthetic_eval/test (512-d, flat index) in {directory}"
    assert second.startswith("exact index (flat, 32 vectors)")


def test_appending_takes_its_images_from_a_folder(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--append INDEX takes the images to add from --folder"):
        append_folder(_args(run_dir, append=str(tmp_path / "index")))
