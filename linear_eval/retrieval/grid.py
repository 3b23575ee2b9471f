"""A PNG of one query image beside its nearest gallery images, each titled with its score."""

from __future__ import annotations

from pathlib import Path

import torch

from linear_eval.figure import new_figure, save_figure


def _show(axis, image: torch.Tensor, title: str) -> None:
    array = image.permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        axis.imshow(array[:, :, 0], cmap="gray", vmin=0, vmax=255)
    else:
        axis.imshow(array)
    axis.set_title(title, fontsize=8)
    axis.axis("off")


def draw_neighbours(
    query: torch.Tensor,
    neighbours: list[torch.Tensor],
    titles: list[str],
    path: str | Path,
    query_title: str = "query",
) -> Path:
    """Write ``path``: the uint8 (C, H, W) ``query`` first, then ``neighbours`` with ``titles``."""
    columns = 1 + len(neighbours)
    figure, axes = new_figure(1, columns, figsize=(1.6 * columns, 2.0), squeeze=False)
    _show(axes[0, 0], query, query_title)
    for axis, image, title in zip(axes[0, 1:], neighbours, titles):
        _show(axis, image, title)
    return save_figure(figure, path, dpi=100)
