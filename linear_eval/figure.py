"""Figures written as PNG files, without a display (matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["plt", "save_figure"]


def save_figure(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Lay ``figure`` out, write it to ``path`` (folders made as needed) and close it."""
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
