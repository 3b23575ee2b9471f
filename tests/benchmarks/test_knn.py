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


@pytest.mark.slow
def test_without_lightlys_environment_its_variant_is_skipped_in_one_line(
    tmp_path: Path, run_script
) -> None:
    stderr: list[str] = []
    absent = tmp_path / "no-env" / "bin" / "python"
    report = run_script(
        "knn.py",
        *["--train", "200", "--queries", "20", "--dim", "8", "--k", "5", "--repeats", "1"],
        *["--lightly-python", str(absent)],
        out=tmp_path / "knn.json",
        stderr=stderr,
    )
    assert report["passed"] and len(report["results"]) == 2
    assert stderr == [
        f"no lightly environment at {absent} (make it with benchmarks/make_lightly_env.sh): "
        "the lightly variant is skipped"
    ]
