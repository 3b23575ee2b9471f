"""Tests of linear_eval/retrieval/indexing.py: the work of ``simclr index`` called without the
command line: the index built and saved where asked, and what it says it wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from linear_eval.features.gallery import load_evaluation
from linear_eval.retrieval.indexing import index_gallery
from linear_eval.retrieval.store import load_index


@pytest.mark.usefixtures("single_thread")
def test_the_index_of_a_split_is_saved_and_described(run_dir: Path, synthetic, capsys) -> None:
    loaded, config = load_evaluation(run_dir, None, synthetic.eval_overrides)
    directory = index_gallery(loaded, config, "test")
    assert directory == run_dir / "index" / "synthetic_eval-test"
    assert load_index(directory).meta["count"] == 32
    first, second = capsys.readouterr().out.splitlines()
    assert first == f"indexed 32 images of synthetic_eval/test (512-d, flat index) in {directory}"
    assert second.startswith("exact index (flat, 32 vectors)")
