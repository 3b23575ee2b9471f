"""``simclr plot``: a 2-D map of frozen representations, coloured by label, as a PNG.

Methods: UMAP (McInnes et al. 2018, from the optional ``umap-learn`` package) on cosine
distance, t-SNE (van der Maaten and Hinton 2008, scikit-learn) and PCA, the fast fallback.
``auto`` uses UMAP when ``umap-learn`` is installed and t-SNE otherwise. A seeded random sample
of at most ``plot.max_points`` points is embedded.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import matplotlib
import numpy as np

from linear_eval.config import EvalConfig, PlotConfig
from linear_eval.features.encoders import LoadedEncoder
from linear_eval.features.gallery import gallery_features, gallery_name
from linear_eval.features.vectors import normalized
from linear_eval.figure import new_figure, save_figure
from simclr.run.paths import check_file_to_write, check_folder_to_write, printable


def resolved_method(method: str) -> str:
    """``auto`` -> ``umap`` when umap-learn is importable, else ``tsne``."""
    if method != "auto":
        return method
    return "umap" if importlib.util.find_spec("umap") is not None else "tsne"


def sample_rows(count: int, max_points: int, seed: int) -> np.ndarray:
    if count <= max_points:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, max_points, replace=False))


def embed_2d(features: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates of the L2-normalised ``features`` by ``method`` (umap, tsne, pca)."""
    x = normalized(features)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    if method == "umap":
        import umap

        neighbours = min(15, len(x) - 1)
        reducer = umap.UMAP(n_neighbors=neighbours, metric="cosine", random_state=seed)
        return reducer.fit_transform(x)
    raise ValueError(f"unknown method {method!r}")


def draw_map(
    coordinates: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    path: str | Path,
    title: str,
    point_size: float = 2.0,
) -> Path:
    """Scatter ``coordinates`` coloured by label (grey where unlabelled), with a legend."""
    figure, axis = new_figure(figsize=(7, 6))
    known = labels >= 0
    if (~known).any():
        axis.scatter(*coordinates[~known].T, s=point_size, c="lightgrey", label="unlabelled")
    colours = matplotlib.colormaps["tab10" if len(np.unique(labels[known])) <= 10 else "tab20"]
    for label in np.unique(labels[known]):
        rows = labels == label
        name = classes[label] if label < len(classes) else str(label)
        colour = colours(int(label) % colours.N)
        axis.scatter(*coordinates[rows].T, s=point_size, color=colour, label=name)
    if known.any() or (~known).any():
        axis.legend(markerscale=4, fontsize=7, loc="best", frameon=False)
    axis.set_title(title, fontsize=10)
    axis.set_xticks([])
    axis.set_yticks([])
    return save_figure(figure, path)


def plot_embedding(
    features: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    path: str | Path,
    config: PlotConfig,
    title: str,
    seed: int = 0,
) -> tuple[Path, str]:
    """Sample, reduce to 2-D and draw; returns the PNG's path and the method used."""
    rows = sample_rows(len(features), config.max_points, seed)
    method = resolved_method(config.method)
    coordinates = embed_2d(np.asarray(features[rows]), method, seed)  # only the sampled rows
    title = f"{title} ({method}, {len(rows):,} points)"
    return draw_map(coordinates, labels[rows], classes, path, title, config.point_size), method


def plot_gallery(
    loaded: LoadedEncoder,
    config: EvalConfig,
    split: str | None = None,
    out: str | None = None,
) -> Path:
    """Draw the map of the gallery (``split`` of ``config.data``, see
    :func:`linear_eval.features.gallery.gallery_features`) by ``config.plot`` to ``out``
    (default: RUN/plots/NAME-METHOD.png; a folder: NAME-METHOD.png in it; a name without .png
    gets it); the PNG's path, the one printed. The file written is checked before the map is
    drawn."""
    if out is None:
        check_folder_to_write("--out", loaded.run_dir / "plots")
    features = gallery_features(loaded, config, split)
    method = resolved_method(config.plot.method)
    name = f"{gallery_name(config, features)}-{method}.png"
    path = plot_path(out, loaded.run_dir / "plots", name)
    check_file_to_write("--out", path)
    title = f"{config.data.name}/{features.meta['split']}: {loaded.source}"
    path, method = plot_embedding(
        features.representation,
        features.labels,
        features.classes,
        path,
        config.plot,
        title,
        config.seed,
    )
    print(f"wrote {printable(str(path))} ({method})")
    return path


def plot_path(out: str | None, default_dir: Path, name: str) -> Path:
    """The PNG ``--out`` names: ``default_dir/name`` without it, ``out/name`` when ``out`` is a
    folder (or ends with /), else ``out`` with .png added unless it ends so (matplotlib would
    add it silently)."""
    if out is None:
        return default_dir / name
    if Path(out).is_dir() or out.endswith(("/", os.sep)):
        return Path(out) / name
    path = Path(out)
    return path if path.suffix.lower() == ".png" else path.with_name(f"{path.name}.png")


def check_plot_out(out: str) -> None:
    """``--out`` before any work: a folder that can be written, or a file whose folder can."""
    if Path(out).is_dir() or out.endswith(("/", os.sep)):
        check_folder_to_write("--out", out)
    else:
        check_file_to_write("--out", plot_path(out, Path(), ""))
