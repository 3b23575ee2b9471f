"""Tests of linear_eval/feature_rows.py: rows appended batch by batch, the file cut to the rows
that came."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from linear_eval import feature_rows
from linear_eval.feature_rows import FeatureRows


def test_rows_are_kept_in_order_and_the_file_is_cut_to_those_written(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(feature_rows, "CHUNK_ROWS", 2)  # the cut copies in several chunks
    rows = FeatureRows(tmp_path, capacity=10)
    first = np.arange(8, dtype=np.float32).reshape(4, 2)
    rows.append(first, np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3]))
    rows.append(-first[:3], np.array([4, 5, -1]), np.array([5, 6, 9]))  # images 4, 7, 8 unreadable
    assert rows.close() == 7
    features = np.load(tmp_path / "features.npy")
    assert features.dtype == np.float32
    np.testing.assert_array_equal(features, np.concatenate([first, -first[:3]]))
    assert np.load(tmp_path / "labels.npy").tolist() == [0, 1, 2, 3, 4, 5, -1]
    assert np.load(tmp_path / "indices.npy").tolist() == [0, 1, 2, 3, 5, 6, 9]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "features.npy",
        "indices.npy",
        "labels.npy",
    ]


def test_no_row_writes_nothing(tmp_path: Path) -> None:
    assert FeatureRows(tmp_path, capacity=4).close() == 0
    assert list(tmp_path.iterdir()) == []
