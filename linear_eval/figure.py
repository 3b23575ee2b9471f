"""Figures written as PNG files, without a display and without touching matplotlib's backend.

Figures are ``matplotlib.figure.Figure`` objects made directly, not through pyplot: they render
to PNG with matplotlib's Agg canvas whatever backend is active, so importing this module never
calls ``matplotlib.use`` (which broke inline plots in notebooks), and pyplot's registry of open
figures never holds them (a sweep of many plots keeps no memory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

__all__ = ["new_figure", "save_figure"]


def new_figure(rows: int = 1, columns: int = 1, **subplots: Any) -> tuple[Figure, Any]:
    """A figure and its axes, as ``pyplot.subplots(rows, columns, figsize=..., ...)`` gives."""
    figsize = subplots.pop("figsize", None)
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(rows, columns, **subplots)


def save_figure(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Lay ``figure`` out and write it to ``path`` (folders made as needed)."""
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path
