"""The labelled rows of a split (label >= 0; -1 marks an unlabelled image) and the class count
that the classifiers of every protocol (kNN, linear probe) predict."""

from __future__ import annotations

import numpy as np


def labelled(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``features`` and ``labels`` whose label is known; unchanged (no copy of a
    memory-mapped array) when every label is known."""
    known = labels >= 0
    if known.all():
        return features, labels
    return np.asarray(features)[known], labels[known]


def class_count(*labels: np.ndarray) -> int:
    """The number of classes of one or more label arrays: their largest label + 1 (0 when
    they are all empty)."""
    return max((int(array.max()) for array in labels if len(array)), default=-1) + 1
