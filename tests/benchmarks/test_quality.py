"""benchmarks/quality.py: one tiny run of every variant is evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_quality_runs_one_step_per_seed_and_summarises_the_seeds(
    tmp_path: Path, fashion_mnist_root: Path, run_script, has_lightly: bool
) -> None:
    report = run_script(
        "quality.py",
        *["--steps", "1", "--batch-size", "8", "--workers", "0", "--train-subset", "16"],
        *["--eval-subset", "40", "--k", "5", "3", "--linear", "--seeds", "0", "1"],
        *["--data-root", str(fashion_mnist_root), "--work-dir", str(tmp_path / "runs")],
        out=tmp_path / "quality.json",
    )
    expected = {"project", "random", "raw"} | ({"lightly"} if has_lightly else set())
    assert set(report["results"]) == expected
    assert set(report["per_seed"]) == {"0", "1"}
    for method, summary in report["results"].items():
        runs = [report["per_seed"][seed][method] for seed in ("0", "1")]
        for k in ("5", "3"):
            values = [run["knn_top1"][k] for run in runs]
            assert all(0.0 <= value <= 1.0 for value in values)
            # mean and sample sd of two values, by hand
            assert summary["knn_top1"][k]["mean"] == pytest.approx(sum(values) / 2)
            assert summary["knn_top1"][k]["sd"] == pytest.approx(
                abs(values[0] - values[1]) / 2**0.5
            )
        linear = [run["linear_top1"] for run in runs]
        assert summary["linear_top1"]["values"] == linear
    # raw pixels have no seed in their kNN: both seeds agree exactly
    raw = [report["per_seed"][seed]["raw"]["knn_top1"] for seed in ("0", "1")]
    assert raw[0] == raw[1]
    # the project pretrained once per seed; its run folders are removed afterwards
    assert not list((tmp_path / "runs").glob("project-*"))
    assert (
        report["per_seed"]["0"]["project"]["final_loss"]
        != report["per_seed"]["1"]["project"]["final_loss"]
    )
