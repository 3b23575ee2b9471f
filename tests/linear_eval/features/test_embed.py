"""Tests of linear_eval/features/embed.py: the exported files hold exactly the cached features;
the work of ``simclr embed`` writes them where asked and says so."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from linear_eval.features.embed import embed_gallery, export_embeddings
from linear_eval.features.encoders import raw_pixels
from linear_eval.features.extract import extract_features
from linear_eval.features.gallery import load_evaluation


@pytest.mark.parametrize("csv_max_rows", [0, 100])
def test_embeddings_labels_indices_and_csv(tmp_path: Path, synthetic, csv_max_rows: int) -> None:
    config = synthetic.eval_config(None, f"data.name={synthetic.name}", "data.image_size=16")
    features = extract_features(raw_pixels(), config, "test", None, tmp_path / "cache")
    written = export_embeddings(features, tmp_path / "out", csv_max_rows)
    out = tmp_path / "out"
    assert np.array_equal(np.load(out / "embeddings.npy"), features.representation)
    assert np.array_equal(np.load(out / "labels.npy"), features.labels)
    assert np.array_equal(np.load(out / "indices.npy"), np.arange(32))
    assert json.loads((out / "meta.json").read_text())["split"] == "test"
    assert (out / "embeddings.csv" in written) == (csv_max_rows >= 32)
    if csv_max_rows:
        rows = list(csv.reader((out / "embeddings.csv").open()))
        assert rows[0][:4] == ["index", "label", "class", "h0"]
        assert len(rows) == 33 and len(rows[1]) == 3 + 256
        assert rows[2][:3] == ["1", "1", "class1"]
        np.testing.assert_allclose(
            np.array(rows[2][3:], float), features.representation[1], rtol=1e-5
        )


@pytest.mark.usefixtures("single_thread")
def test_the_gallery_is_exported_to_the_run_by_default(run_dir: Path, synthetic, capsys) -> None:
    overrides = [*synthetic.eval_overrides, "data.subset=10", "embed.csv_max_rows=0"]
    loaded, config = load_evaluation(run_dir, None, overrides)
    directory = embed_gallery(loaded, config)
    assert directory == run_dir / "embeddings" / "synthetic_eval-train-10"
    assert np.load(directory / "embeddings.npy").shape == (10, 512)
    assert capsys.readouterr().out.splitlines() == [
        f"wrote 10 x 512 features to {directory}",
        "  embeddings.npy, labels.npy, indices.npy, meta.json",
    ]
