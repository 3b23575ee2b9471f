"""Tests of linear_eval/features/rows.py: rows appended batch by batch, the file cut to the rows
that came, stored in float16 unless float32 is asked for, values beyond float16 refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linear_eval.features import rows as rows_module
from linear_eval.features.rows import FeatureRows
from simclr.errors import DataError


def test_rows_are_kept_in_order_and_the_file_is_cut_to_those_written(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(rows_module, "CHUNK_ROWS", 2)  # the cut copies in several chunks
    rows = FeatureRows(tmp_path, capacity=10)
    first = np.arange(8, dtype=np.float32).reshape(4, 2)
    rows.append(first, np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3]))
    rows.append(-first[:3], np.array([4, 5, -1]), np.array([5, 6, 9]))  # images 4, 7, 8 unreadable
    assert rows.close() == 7
    features = np.load(tmp_path / "features.npy")
    assert features.dtype == np.float16  # small integers are exact in float16
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


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_rows_are_stored_in_the_dtype_asked_for(tmp_path: Path, dtype: str) -> None:
    rows = FeatureRows(tmp_path, capacity=3, dtype=dtype)
    values = np.array([[0.1, 1 / 3], [1e4, -2.5e-3]], np.float32)
    rows.append(values, np.array([0, 1]), np.array([0, 1]))
    rows.close()
    stored = np.load(tmp_path / "features.npy")
    assert stored.dtype == np.dtype(dtype) and stored.shape == (2, 2)
    np.testing.assert_array_equal(stored, values.astype(dtype))


def test_a_value_beyond_float16_is_refused_in_one_line(tmp_path: Path) -> None:
    rows = FeatureRows(tmp_path, capacity=2)
    with pytest.raises(DataError, match=r"up to 7e\+04 exceed float16's range") as error:
        rows.append(np.array([[1.0, -7e4]], np.float32), np.array([0]), np.array([0]))
    assert "features.dtype=float32" in str(error.value) and "\n" not in str(error.value)
    rows = FeatureRows(tmp_path, capacity=2)
    rows.append(np.array([[np.inf, 1.0]], np.float32), np.array([0]), np.array([0]))  # as it came
