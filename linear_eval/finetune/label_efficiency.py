"""The label-efficiency plot of a fine-tuning sweep: test accuracy against the fraction of
labels, one line per method (the SimCLR paper's question of section 6 and Table 7)."""

from __future__ import annotations

from pathlib import Path

from linear_eval.figure import new_figure, save_figure

PLOT_FILE = "label_efficiency.png"


def plot_label_efficiency(reports: list[dict], path: str | Path, title: str = "") -> Path:
    """Top-1 and top-5 (%) against the labelled fraction (log scale) for every method."""
    figure, axes = new_figure(1, 2, figsize=(9, 3.6))
    methods = list(dict.fromkeys(m for report in reports for m in report["results"]))
    ordered = sorted(reports, key=lambda report: report["labels"]["label_fraction"])
    for axis, metric in zip(axes, ("top1", "top5")):
        for method in methods:
            points = [
                (report["labels"]["label_fraction"], 100 * report["results"][method][metric])
                for report in ordered
                if method in report["results"]
            ]
            axis.plot(*zip(*points), marker="o", label=method)
        fractions = [report["labels"]["label_fraction"] for report in ordered]
        axis.set_xscale("log")
        axis.set_xticks(fractions, [f"{100 * f:g} %" for f in fractions])
        axis.minorticks_off()
        axis.set_xlabel("labelled fraction of the training split")
        axis.set_ylabel(f"test {metric[:3]}-{metric[3:]} accuracy (%)")
        axis.grid(alpha=0.3)
    axes[0].legend()
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
