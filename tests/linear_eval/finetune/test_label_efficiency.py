"""Tests of linear_eval/finetune/label_efficiency.py: the lines hold the reports' points, sorted
by fraction."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.axes import Axes

from linear_eval.finetune.label_efficiency import plot_label_efficiency


def report(fraction: float, **top1: float) -> dict:
    results = {
        method: {"top1": value, "top5": min(1.0, value + 0.1)} for method, value in top1.items()
    }
    return {"labels": {"label_fraction": fraction}, "results": results}


def test_each_method_is_a_line_of_its_points_in_fraction_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[tuple] = []
    original = Axes.plot

    def plot(self, *args, **kwargs):
        drawn.append((kwargs["label"], list(args[0]), list(args[1])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", plot)
    reports = [  # out of order, and the scratch baseline missing at 10 %
        report(0.1, **{"fine-tuned": 0.8}),
        report(0.01, **{"fine-tuned": 0.5, "from scratch": 0.3}),
    ]
    path = plot_label_efficiency(reports, tmp_path / "plot.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    top1 = drawn[:2]  # the first axis: top-1, one line per method
    assert top1 == [
        ("fine-tuned", [0.01, 0.1], [pytest.approx(50.0), pytest.approx(80.0)]),
        ("from scratch", [0.01], [pytest.approx(30.0)]),
    ]
    assert drawn[2][2] == [pytest.approx(60.0), pytest.approx(90.0)]  # top-5 of the second axis
