"""Tests of linear_eval/figure.py: figures saved as PNG files without a display, and without
touching matplotlib's backend (a notebook's inline plots keep working)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt

from linear_eval.figure import new_figure, save_figure


def test_a_figure_is_written_as_a_png_in_a_new_folder_and_not_kept(tmp_path: Path) -> None:
    open_before = plt.get_fignums()
    figure, axis = new_figure(figsize=(2, 1))
    axis.plot([0, 1], [1, 0])
    target = tmp_path / "new" / "deeper" / "figure.png"
    path = save_figure(figure, target, dpi=50)
    assert path == target and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == open_before  # pyplot never held it: a sweep keeps no memory


def test_the_dpi_sets_the_size_in_pixels(tmp_path: Path) -> None:
    sizes = []
    for dpi in (50, 100):
        figure, _ = new_figure(figsize=(2, 1))
        path = save_figure(figure, str(tmp_path / f"{dpi}.png"), dpi=dpi)
        header = path.read_bytes()
        sizes.append((int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")))
    assert sizes == [(100, 50), (200, 100)]


def test_rows_and_columns_of_axes_as_pyplot_gives_them() -> None:
    _, axes = new_figure(2, 3, squeeze=False)
    assert axes.shape == (2, 3)


def test_importing_the_figures_leaves_the_backend_as_the_user_set_it(tmp_path: Path) -> None:
    """A notebook sets its own backend; importing and saving must not switch it to Agg."""
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import linear_eval.figure as f, ablation.report\n"
        "import linear_eval.protocols.plot, linear_eval.retrieval.grid\n"
        f"figure, axis = f.new_figure(); f.save_figure(figure, {str(tmp_path / 'x.png')!r})\n"
        "print(matplotlib.get_backend())\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "svg"
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
