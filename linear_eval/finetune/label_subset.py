"""A class-balanced, seeded subset of a labelled split: the labels that few-label fine-tuning
and its baselines train on.

As the SimCLR paper samples 1 % and 10 % of ImageNet's labels "in a class-balanced way"
(section 6, semi-supervised learning; about 12.8 and 128 images per class), every class gives
``round(fraction * its size)`` images (at least one), or exactly ``labels_per_class``; which
ones is a seeded permutation of each class's rows. The chosen indices are written beside the
results (``label_subset.json``), so another method can be trained on exactly the same labels;
``finetune.label_subset=FILE`` trains on the indices of such a file instead of drawing them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from linear_eval.features.labelled import class_balanced_subset
from simclr.errors import ConfigError
from simclr.run.atomic import atomic_write

SUBSET_FILE = "label_subset.json"
__all__ = ["class_balanced_subset", "load_subset", "read_subset", "write_subset"]


def write_subset(directory: str | Path, indices: np.ndarray, labels: np.ndarray, **about) -> Path:
    """``label_subset.json``: the split's chosen indices, their count per class, and ``about``
    (split, fraction, seed, ...)."""
    values, counts = np.unique(np.asarray(labels)[indices], return_counts=True)
    record = {
        **about,
        "count": int(len(indices)),
        "per_class": {str(int(v)): int(c) for v, c in zip(values, counts)},
        "indices": [int(i) for i in indices],
    }
    path = Path(directory) / SUBSET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(record) + "\n").encode())
    return path


def read_subset(path: str | Path) -> np.ndarray:
    """The indices of a ``label_subset.json`` (or of the one in a directory)."""
    path = Path(path)
    path = path / SUBSET_FILE if path.is_dir() else path
    return np.asarray(json.loads(path.read_text())["indices"], dtype=np.int64)


def load_subset(
    path: str | Path, labels: np.ndarray, dataset: str, split: str, subset: int | None = None
) -> tuple:
    """The indices of ``label_subset.json`` ``path`` (or the one in directory ``path``) and its
    record, checked against the split they will index: the same data set, split and
    ``data.subset``, every index a labelled row of it, none twice. Any mismatch is a one-line
    ConfigError."""
    path = Path(path)
    path = path / SUBSET_FILE if path.is_dir() else path
    key = "finetune.label_subset"
    if not path.is_file():
        raise ConfigError(f"{key}={str(path)!r} is invalid: no such file (a {SUBSET_FILE})")
    try:
        record = json.loads(path.read_text())
        indices = np.asarray(record["indices"], dtype=np.int64)
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{key}={str(path)!r} is not a {SUBSET_FILE}: {error}") from None
    for name, wanted in (("dataset", dataset), ("split", split), ("subset", subset)):
        if record.get(name, wanted) != wanted:
            raise ConfigError(
                f"{key}={str(path)!r} was drawn from {name} {record[name]!r}, not {wanted!r}"
            )
    labels = np.asarray(labels)
    inside = (indices >= 0) & (indices < len(labels))
    if indices.ndim != 1 or len(indices) == 0 or not inside.all():
        raise ConfigError(f"{key}={str(path)!r} holds indices outside 0..{len(labels) - 1}")
    if len(np.unique(indices)) != len(indices) or (labels[indices] < 0).any():
        raise ConfigError(f"{key}={str(path)!r} repeats an index or names an unlabelled row")
    return np.sort(indices), record
