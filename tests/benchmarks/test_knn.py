"""benchmarks/knn.py: the kNN implementations agree on every prediction."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_knn_predictions_agree(tmp_path: Path, run_script, has_lightly: bool) -> None:
    report = run_script(
        "knn.py",
        *["--train", "500", "--queries", "50", "--dim", "16", "--k", "10", "--repeats", "1"],
        out=tmp_path / "knn.json",
    )
    assert report["passed"]
    assert len(report["results"]) == (3 if has_lightly else 2)
    for result in report["results"].values():
        assert result["disagreements"] == 0
