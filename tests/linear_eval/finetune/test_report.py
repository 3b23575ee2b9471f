"""Tests of linear_eval/finetune/report.py and linear_eval/finetune/label_efficiency.py: the table,
the sweep's table and the label-efficiency plot."""

from __future__ import annotations

from pathlib import Path

from linear_eval.finetune.label_efficiency import plot_label_efficiency
from linear_eval.finetune.report import format_sweep, format_table


def _report(fraction: float, count: int, tuned: float, scratch: float) -> dict:
    return {
        "dataset": "fashion_mnist",
        "train_split": "train",
        "test_split": "test",
        "test_images": 10_000,
        "epochs": 60,
        "batch_size": 256,
        "labels": {
            "count": count,
            "of": 60_000,
            "label_fraction": fraction,
            "labels_per_class": None,
            "seed": 0,
        },
        "results": {
            "fine-tuned": {"top1": tuned, "top5": 0.99, "train_seconds": 10, "test_seconds": 2},
            "from scratch": {"top1": scratch, "top5": 0.98, "train_seconds": 9},
        },
    }


def test_the_table_has_one_row_per_method_in_percent() -> None:
    table = format_table(_report(0.01, 600, 0.8123, 0.7)).splitlines()
    assert "600 labelled images of train (1 % per class of 60,000, seed 0)" in table[0]
    assert table[3].split() == ["fine-tuned", "81.23", "99.00", "12"]
    assert table[4].split() == ["from", "scratch", "70.00", "98.00", "9"]


def test_the_sweep_table_and_plot_have_every_fraction(tmp_path: Path) -> None:
    reports = [_report(0.1, 6000, 0.85, 0.83), _report(0.01, 600, 0.8, 0.7)]
    table = format_sweep(reports)
    assert "1 % (600)" in table and "80.00 / 99.00" in table and "10 % (6,000)" in table
    path = plot_label_efficiency(reports, tmp_path / "plot.png", "title")
    assert path.stat().st_size > 10_000
