"""benchmarks/quality.py: one tiny run of every variant is evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_quality_runs_one_step(
    tmp_path: Path, fashion_mnist_root: Path, run_script, has_lightly: bool
) -> None:
    report = run_script(
        "quality.py",
        *["--steps", "1", "--batch-size", "8", "--workers", "0", "--train-subset", "16"],
        *["--eval-subset", "40", "--k", "5", "--data-root", str(fashion_mnist_root)],
        *["--work-dir", str(tmp_path / "runs")],
        out=tmp_path / "quality.json",
    )
    expected = {"project", "random", "raw"} | ({"lightly"} if has_lightly else set())
    assert set(report["results"]) == expected
    for result in report["results"].values():
        assert 0.0 <= result["knn_top1"] <= 1.0
