"""Tests of linear_eval/retrieval/answer.py: the work of ``simclr retrieve`` called without the
command line: queries answered in order as JSON lines or text, bad options refused first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from linear_eval.retrieval.answer import answer_queries
from simclr.errors import ConfigError

pytestmark = pytest.mark.usefixtures("single_thread")


def _args(index: Path, *images: Path, **options) -> argparse.Namespace:
    settings = {"list": None, "checkpoint": None, "top_k": None, "batch_size": 256}
    settings.update(json=False, grid_dir=None, no_grid=True)
    return argparse.Namespace(
        images=[str(i) for i in images], index=str(index), **settings | options
    )


def test_queries_are_answered_in_order_as_json_lines_or_text(
    tmp_path: Path, synthetic, save_png, index_of_train_split: Path, capsys
) -> None:
    images = synthetic.images("train").images
    queries = [save_png(images[i], tmp_path / f"q{i}.png") for i in (9, 4, 6)]
    capsys.readouterr()
    answer_queries(_args(index_of_train_split, *queries, top_k=2, batch_size=2, json=True))
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [answer["query"] for answer in answers] == [str(q) for q in queries]
    assert [answer["neighbours"][0]["item"] for answer in answers] == [9, 4, 6]
    assert all(len(answer["neighbours"]) == 2 and answer["grid"] is None for answer in answers)

    answer_queries(_args(index_of_train_split, queries[0], top_k=1, grid_dir=str(tmp_path / "g")))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"query {queries[0]}" and lines[1].split()[:3] == ["1", "1.0000", "9"]
    assert lines[1].endswith("label 1 (class1)")


def test_a_grid_is_drawn_per_query_unless_asked_not_to(
    tmp_path: Path, synthetic, save_png, index_of_train_split: Path, capsys
) -> None:
    query = save_png(synthetic.images("train").images[3], tmp_path / "three.png")
    answer_queries(_args(index_of_train_split, query, no_grid=False, grid_dir=str(tmp_path / "g")))
    grid = tmp_path / "g" / "three.png"
    assert grid.read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out.splitlines()[-1] == f"  grid: {grid}"


@pytest.mark.parametrize(
    ("options", "message"),
    [({"top_k": 0}, "-k 0 is invalid"), ({"batch_size": 0}, "--batch-size 0 is invalid")],
)
def test_bad_options_are_refused_before_the_index_is_read(
    tmp_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        answer_queries(_args(tmp_path / "no index", tmp_path / "q.png", **options))
