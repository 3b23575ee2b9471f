"""benchmarks/views.py: one tiny measurement of the views, old against new."""

from __future__ import annotations

from pathlib import Path


def test_views_counts_ops_and_times_both_pipelines(tmp_path: Path, run_script) -> None:
    report = run_script(
        "views.py",
        "--sizes",
        "28",
        "--batch-size",
        "4",
        "--repeats",
        "1",
        out=tmp_path / "views.json",
    )
    (row,) = report["results"]
    assert (row["image_size"], row["channels"], row["images"]) == (28, 1, 4)
    assert set(row["ms"]) == {"modules", "fused"}  # no CUDA graphs without a GPU
    assert row["aten_ops"]["fused"] <= report["op_target"] < row["aten_ops"]["modules"]
    assert row["ops_ratio"] == row["aten_ops"]["modules"] / row["aten_ops"]["fused"]
    assert list(row["stages_ms"]) == [
        "to float",
        "draw parameters",
        "crop + flip",
        "colour jitter",
        "grayscale + blur + normalise",
    ]
