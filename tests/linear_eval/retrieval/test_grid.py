"""Tests of linear_eval/retrieval/grid.py: a query beside its neighbours as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from linear_eval.retrieval.grid import draw_neighbours


def test_the_grid_is_a_png(tmp_path: Path) -> None:
    images = [torch.full((1, 8, 8), v, dtype=torch.uint8) for v in (0, 100, 200)]
    open_before = plt.get_fignums()
    path = draw_neighbours(images[0], images[1:], ["0.9", "0.8"], tmp_path / "g" / "q.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == open_before  # the figure is closed


def test_colour_images_are_drawn_too(tmp_path: Path) -> None:
    images = [torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8) for _ in range(4)]
    path = draw_neighbours(images[0], images[1:], ["a", "b", "c"], tmp_path / "q.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
