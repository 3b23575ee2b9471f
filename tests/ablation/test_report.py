"""Tests of ablation/report.py: results.md best-first with differences to the reference, and the
plot's kind."""

from __future__ import annotations

from ablation.config import load_ablation
from ablation.report import write_markdown, write_plot


def test_markdown_ranks_best_first_with_differences_to_the_reference(tmp_path, write_ablation):
    path = write_ablation(tmp_path, include_base=False, grid={"head.type": ["none", "mlp"]})
    config = load_ablation(path)
    config.reference = "head.type=mlp"
    rows = [
        {
            "run": "head.type=none",
            "overrides": "head.type=none",
            "status": "ok",
            "knn_top1": "0.70",
            "linear_top1": "0.75",
            "final_loss": "5.0",
            "seconds": "1",
        },
        {
            "run": "head.type=mlp",
            "overrides": "head.type=mlp",
            "status": "ok",
            "knn_top1": "0.80",
            "linear_top1": "0.78",
            "final_loss": "4.0",
            "seconds": "1",
        },
        {"run": "broken", "overrides": "x=1", "status": "failed", "error": "boom"},
    ]
    text = write_markdown(config, rows, tmp_path / "results.md")
    table = [
        line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")
    ]
    assert table[0].startswith("| 1 | head.type=mlp") and table[1].startswith(
        "| 2 | head.type=none"
    )
    assert "| 70.00 | -10.00 | 75.00 | -3.00 |" in table[1]
    assert "- broken: boom" in text
    assert (tmp_path / "results.md").read_text() == text


def test_line_plot_for_a_numeric_key_and_bars_otherwise(tmp_path, write_ablation, monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    monkeypatch.setattr(Axes, "plot", lambda self, *a, **k: drawn.append("line"))
    monkeypatch.setattr(Axes, "bar", lambda self, *a, **k: drawn.append("bar"))
    rows = [
        {"run": name, "overrides": name, "status": "ok", "knn_top1": "0.5"}
        for name in ("loss.temperature=0.1", "loss.temperature=0.5", "no-crop")
    ]
    numeric = write_ablation(tmp_path, include_base=False, grid={"loss.temperature": [0.1, 0.5]})
    write_plot(load_ablation(numeric), rows, tmp_path / "a.png")
    assert drawn == ["line"]
    drawn.clear()
    switches = write_ablation(
        tmp_path,
        include_base=False,
        runs=[{"name": "no-crop", "overrides": ["augment.crop.enabled=false"]}],
    )
    write_plot(load_ablation(switches), rows, tmp_path / "b.png")
    assert drawn == ["bar"]


def test_no_plot_without_a_measured_metric(tmp_path, write_ablation):
    path = write_ablation(tmp_path, runs=[{"name": "a"}])
    rows = [{"run": "a", "overrides": "", "status": "failed", "error": "x"}]
    assert write_plot(load_ablation(path), rows, tmp_path / "a.png") is None
    assert not (tmp_path / "a.png").exists()
