"""Smoke test of benchmarks/: every script runs one tiny iteration and writes its JSON.

Benchmarks are not tests; this only checks that they still run against the current package.
Without lightly installed (as in CI) each script skips its lightly variant by itself.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
HAS_LIGHTLY = importlib.util.find_spec("lightly") is not None


def run_script(name: str, *args: str, out: Path) -> dict:
    command = [sys.executable, str(BENCHMARKS / name), *args, "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_throughput_runs_one_step(tmp_path: Path, fashion_mnist_root: Path) -> None:
    report = run_script(
        "throughput.py",
        *["--stem", "standard", "--batch-size", "8", "--image-sizes", "16", "--workers", "0"],
        *["--precisions", "32-true", "--warmup", "0", "--steps", "1"],
        *["--data-root", str(fashion_mnist_root)],
        out=tmp_path / "throughput.json",
    )
    (result,) = report["results"]
    expected = {"project", "ceiling", "conventional"} | ({"lightly"} if HAS_LIGHTLY else set())
    assert expected <= set(result)
    for variant in expected:
        assert result[variant]["finite"]
        assert result[variant]["views_per_second"] > 0
    assert result["ratios"]["project/ceiling"] > 0


@pytest.mark.slow
def test_knn_predictions_agree(tmp_path: Path) -> None:
    report = run_script(
        "knn.py",
        *["--train", "500", "--queries", "50", "--dim", "16", "--k", "10", "--repeats", "1"],
        out=tmp_path / "knn.json",
    )
    assert report["passed"]
    assert len(report["results"]) == (3 if HAS_LIGHTLY else 2)
    for result in report["results"].values():
        assert result["disagreements"] == 0


@pytest.mark.slow
def test_quality_runs_one_step(tmp_path: Path, fashion_mnist_root: Path) -> None:
    report = run_script(
        "quality.py",
        *["--steps", "1", "--batch-size", "8", "--workers", "0", "--train-subset", "16"],
        *["--eval-subset", "40", "--k", "5", "--data-root", str(fashion_mnist_root)],
        *["--work-dir", str(tmp_path / "runs")],
        out=tmp_path / "quality.json",
    )
    expected = {"project", "random", "raw"} | ({"lightly"} if HAS_LIGHTLY else set())
    assert set(report["results"]) == expected
    for result in report["results"].values():
        assert 0.0 <= result["knn_top1"] <= 1.0
