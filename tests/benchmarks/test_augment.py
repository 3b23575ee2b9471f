"""benchmarks/augment.py: one tiny measurement of a recipe's augmentations."""

from __future__ import annotations

from pathlib import Path


def test_augment_times_every_op_and_both_crops(tmp_path: Path, run_script) -> None:
    report = run_script(
        "augment.py", "--repeats", "1", "--recipes", "default", out=tmp_path / "augment.json"
    )
    (row,) = report["results"]
    assert (row["recipe"], row["image_size"], row["channels"]) == ("default", 28, 1)
    # the default recipe's ops, in the order SimCLRViews applies them, and the per-image crop
    assert list(row["ops_ms"]) == [
        "RandomResizedCrop",
        "RandomHorizontalFlip",
        "ColorJitter",
        "RandomGaussianBlur",
        "RandomResizedCrop (slice)",
    ]
    assert row["views_ms"] > 0 and row["views_slice_crop_ms"] > 0
    assert row["slice_over_resample"] == row["views_slice_crop_ms"] / row["views_ms"]
