"""The labelled rows of a split (label >= 0; -1 marks an unlabelled image) and the class count
that the classifiers of every protocol (kNN, linear probe) predict."""

from __future__ import annotations

import numpy as np
import torch

from simclr.errors import ConfigError


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


def class_balanced_subset(
    labels: np.ndarray | torch.Tensor,
    fraction: float | None = None,
    per_class: int | None = None,
    seed: int = 0,
    keys: tuple[str, str] = ("finetune.label_fraction", "finetune.labels_per_class"),
) -> np.ndarray:
    """The sorted indices of ``fraction`` of every class (at least one image), or of
    ``per_class`` images of every class, each class's a seeded permutation of its rows (SimCLR
    section 6 samples ImageNet's 1 % and 10 % "in a class-balanced way"); rows labelled -1
    (unlabelled) are never chosen. Errors name the settings ``keys`` (fraction, per class)."""
    fraction_key, per_class_key = keys
    if (fraction is None) == (per_class is None):
        raise ConfigError(f"set one of {fraction_key} and {per_class_key}")
    if fraction is not None and not 0 < fraction <= 1:
        raise ConfigError(f"{fraction_key}={fraction!r} is invalid: must be in (0, 1]")
    labels = np.asarray(labels)
    classes = np.unique(labels[labels >= 0])
    if len(classes) == 0:
        raise ConfigError("the training split has no labelled image to train on")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in classes:
        rows = np.flatnonzero(labels == label)
        if per_class is not None and per_class > len(rows):
            raise ConfigError(
                f"{per_class_key}={per_class} is invalid: class {int(label)} has only "
                f"{len(rows)} labelled images"
            )
        count = per_class if per_class is not None else max(1, round(fraction * len(rows)))
        order = torch.randperm(len(rows), generator=generator)[:count].numpy()
        chosen.append(rows[order])
    return np.sort(np.concatenate(chosen))
