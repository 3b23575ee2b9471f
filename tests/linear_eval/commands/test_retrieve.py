"""Tests of linear_eval/commands/retrieve.py: ``simclr retrieve``'s options refused before the
index is read."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from linear_eval.commands import retrieve
from simclr.errors import ConfigError


def _args(index: Path, *images: Path, **options) -> argparse.Namespace:
    settings = {"list": None, "checkpoint": None, "top_k": None, "batch_size": 256}
    settings.update(json=False, grid_dir=None, no_grid=True)
    return argparse.Namespace(
        images=[str(i) for i in images], index=str(index), **settings | options
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"top_k": 0}, "-k 0 is invalid"),
        ({"batch_size": 0}, "--batch-size 0 is invalid"),
        ({}, "--index"),
    ],
)
def test_bad_options_are_refused_before_the_index_is_read(
    tmp_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        retrieve.run(_args(tmp_path / "no index", tmp_path / "q.png", **options))
