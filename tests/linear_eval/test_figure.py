"""Tests of linear_eval/figure.py: figures saved as PNG files without a display."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from linear_eval.figure import plt, save_figure


def test_a_figure_is_written_as_a_png_in_a_new_folder_and_closed(tmp_path: Path) -> None:
    open_before = plt.get_fignums()
    figure, axis = plt.subplots(figsize=(2, 1))
    axis.plot([0, 1], [1, 0])
    target = tmp_path / "new" / "deeper" / "figure.png"
    path = save_figure(figure, target, dpi=50)
    assert path == target and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == open_before  # closed: a sweep of many plots holds no memory


def test_the_dpi_sets_the_size_in_pixels(tmp_path: Path) -> None:
    sizes = []
    for dpi in (50, 100):
        figure, _ = plt.subplots(figsize=(2, 1))
        path = save_figure(figure, str(tmp_path / f"{dpi}.png"), dpi=dpi)
        header = path.read_bytes()
        sizes.append((int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")))
    assert sizes == [(100, 50), (200, 100)]


def test_figures_need_no_display() -> None:
    assert matplotlib.get_backend().lower() == "agg"
