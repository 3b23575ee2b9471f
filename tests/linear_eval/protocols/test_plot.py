"""Tests of linear_eval/protocols/plot.py: 2-D coordinates and the PNG map, and the work of
``simclr plot``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from linear_eval.config import PlotConfig
from linear_eval.features.gallery import load_evaluation
from linear_eval.protocols.plot import (
    embed_2d,
    plot_embedding,
    plot_gallery,
    resolved_method,
    sample_rows,
)


def clusters(count: int = 60):
    rng = np.random.default_rng(0)
    labels = np.arange(count) % 3
    features = np.eye(8)[labels] * 5 + rng.normal(size=(count, 8)) * 0.1
    return features.astype(np.float32), labels


def test_pca_keeps_well_separated_clusters_apart() -> None:
    features, labels = clusters()
    coordinates = embed_2d(features, "pca")
    centres = np.stack([coordinates[labels == c].mean(0) for c in range(3)])
    spread = max(
        np.linalg.norm(coordinates[labels == c] - centres[c], axis=1).max() for c in range(3)
    )
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 2 * spread


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_the_map_is_a_png(tmp_path: Path, method: str) -> None:
    features, labels = clusters()
    labels[:5] = -1
    config = PlotConfig(method=method, max_points=40)
    path, used = plot_embedding(
        features, labels, ["a", "b", "c"], tmp_path / "map.png", config, "test"
    )
    assert used == method
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


STUB_UMAP = """
class UMAP:
    made = []

    def __init__(self, **settings):
        self.settings = settings
        UMAP.made.append(self)

    def fit_transform(self, x):
        return x[:, :2]
"""


@pytest.fixture
def umap_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A stand-in ``umap`` package importable from the front of sys.path; the module."""
    package = tmp_path / "site" / "umap"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(STUB_UMAP)
    monkeypatch.delitem(sys.modules, "umap", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield importlib.import_module("umap")
    sys.modules.pop("umap", None)


def test_auto_prefers_umap_when_installed(umap_installed, tmp_path: Path) -> None:
    assert resolved_method("auto") == "umap"
    for method in ("umap", "tsne", "pca"):
        assert resolved_method(method) == method
    # and the map is drawn with it: cosine distance, as many neighbours as the points allow
    features, labels = clusters(12)
    config = PlotConfig(method="auto", max_points=40)
    path, used = plot_embedding(features, labels, ["a", "b", "c"], tmp_path / "m.png", config, "t")
    assert used == "umap" and path.read_bytes()[:4] == b"\x89PNG"
    (reducer,) = umap_installed.UMAP.made
    assert reducer.settings == {"n_neighbors": 11, "metric": "cosine", "random_state": 0}


def test_auto_falls_back_to_tsne_without_umap(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "umap" else find_spec(name, *args),
    )
    assert resolved_method("auto") == "tsne"
    for method in ("umap", "tsne", "pca"):
        assert resolved_method(method) == method


def test_sampling_is_seeded_sorted_and_bounded() -> None:
    rows = sample_rows(100, 10, seed=0)
    assert len(rows) == 10 and np.array_equal(rows, np.sort(rows))
    assert np.array_equal(rows, sample_rows(100, 10, seed=0))
    assert np.array_equal(sample_rows(5, 10, seed=0), np.arange(5))


@pytest.mark.usefixtures("single_thread")
def test_the_gallery_map_goes_to_the_run_by_default(run_dir: Path, synthetic, capsys) -> None:
    overrides = [*synthetic.eval_overrides, "plot.method=pca"]
    path = plot_gallery(*load_evaluation(run_dir, None, overrides), "test")
    assert path == run_dir / "plots" / "synthetic_eval-test-pca.png"
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out == f"wrote {path} (pca)\n"


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("out", ["folder", "folder/", "map", "map.png"])
def test_the_png_printed_is_the_png_written(
    run_dir: Path, synthetic, tmp_path: Path, capsys, out: str
) -> None:
    """--out DIR once wrote DIR.png and printed DIR: a folder gets the default name in it, a
    name without .png gets it, and the path printed is the one written."""
    if out.startswith("folder"):
        (tmp_path / "folder").mkdir()
    loaded, config = load_evaluation(run_dir, None, [*synthetic.eval_overrides, "plot.method=pca"])
    path = plot_gallery(loaded, config, "test", str(tmp_path / out))
    expected = {
        "folder": tmp_path / "folder" / "synthetic_eval-test-pca.png",
        "folder/": tmp_path / "folder" / "synthetic_eval-test-pca.png",
        "map": tmp_path / "map.png",
        "map.png": tmp_path / "map.png",
    }[out]
    assert path == expected and path.read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out == f"wrote {expected} (pca)\n"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png")) == [
        expected.relative_to(tmp_path)
    ]
