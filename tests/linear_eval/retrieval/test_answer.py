"""Tests of linear_eval/retrieval/answer.py: the work of ``simclr retrieve`` called without the
command line: queries answered in order as JSON lines or text, a grid drawn per query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linear_eval.retrieval.answer import answer_queries

pytestmark = pytest.mark.usefixtures("single_thread")


def _answer(index: Path, *images: Path, **options) -> None:
    answer_queries(index, [str(image) for image in images], **options)


def test_queries_are_answered_in_order_as_json_lines_or_text(
    tmp_path: Path, synthetic, save_png, index_of_train_split: Path, capsys
) -> None:
    images = synthetic.images("train").images
    queries = [save_png(images[i], tmp_path / f"q{i}.png") for i in (9, 4, 6)]
    capsys.readouterr()
    _answer(index_of_train_split, *queries, top_k=2, batch_size=2, as_json=True)
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [answer["query"] for answer in answers] == [str(q) for q in queries]
    assert [answer["neighbours"][0]["item"] for answer in answers] == [9, 4, 6]
    assert all(len(answer["neighbours"]) == 2 and answer["grid"] is None for answer in answers)

    _answer(index_of_train_split, queries[0], top_k=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"query {queries[0]}" and lines[1].split()[:3] == ["1", "1.0000", "9"]
    assert lines[1].endswith("label 1 (class1)")


def test_a_grid_is_drawn_per_query_unless_asked_not_to(
    tmp_path: Path, synthetic, save_png, index_of_train_split: Path, capsys
) -> None:
    query = save_png(synthetic.images("train").images[3], tmp_path / "three.png")
    _answer(index_of_train_split, query, grid_dir=tmp_path / "g")
    grid = tmp_path / "g" / "three.png"
    assert grid.read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out.splitlines()[-1] == f"  grid: {grid}"
