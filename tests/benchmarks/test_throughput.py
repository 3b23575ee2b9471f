"""benchmarks/throughput.py: one tiny step of every variant runs and reports finite views/s."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_throughput_runs_one_step(
    tmp_path: Path, fashion_mnist_root: Path, run_script, has_lightly: bool
) -> None:
    report = run_script(
        "throughput.py",
        *["--stem", "standard", "--batch-size", "8", "--image-sizes", "16", "--workers", "0"],
        *["--precisions", "32-true", "--warmup", "0", "--steps", "1"],
        *["--data-root", str(fashion_mnist_root)],
        out=tmp_path / "throughput.json",
    )
    (result,) = report["results"]
    expected = {"project", "ceiling", "conventional"} | ({"lightly"} if has_lightly else set())
    assert expected <= set(result)
    for variant in expected:
        assert result[variant]["finite"]
        assert result[variant]["views_per_second"] > 0
    assert result["ratios"]["project/ceiling"] > 0
