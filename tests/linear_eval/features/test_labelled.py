"""Tests of linear_eval/features/labelled.py against hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from linear_eval.features.labelled import class_count, labelled


def test_only_the_rows_of_known_labels_are_kept_in_order() -> None:
    features = np.arange(10, dtype=np.float32).reshape(5, 2)
    labels = np.array([2, -1, 0, -1, 1])
    rows, known = labelled(features, labels)
    np.testing.assert_array_equal(rows, [[0, 1], [4, 5], [8, 9]])
    assert known.tolist() == [2, 0, 1]


def test_all_labels_known_gives_the_arrays_themselves(tmp_path) -> None:
    np.save(tmp_path / "features.npy", np.ones((3, 2), np.float32))
    features = np.load(tmp_path / "features.npy", mmap_mode="r")
    labels = np.array([0, 1, 0])
    rows, known = labelled(features, labels)
    assert rows is features and known is labels  # a memory map is not read into memory


def test_no_known_label_leaves_no_row() -> None:
    rows, known = labelled(np.ones((2, 3)), np.array([-1, -1]))
    assert rows.shape == (0, 3) and known.shape == (0,)


@pytest.mark.parametrize(
    ("labels", "count"),
    [
        ([np.array([0, 1, 1])], 2),
        ([np.array([3])], 4),  # classes 0..2 that no image shows still count
        ([np.array([0, 1]), np.array([4, 2])], 5),  # the largest label of any array
        ([np.array([0, 2]), np.array([], dtype=np.int64)], 3),  # an empty array is ignored
    ],
)
def test_the_class_count_is_the_largest_label_plus_one(labels, count: int) -> None:
    assert class_count(*labels) == count
