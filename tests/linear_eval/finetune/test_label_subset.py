"""Tests of linear_eval/finetune/label_subset.py: the labelled subset is class-balanced, seeded,
never holds an unlabelled row, and is refused in one line when a class is too small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linear_eval.finetune.label_subset import class_balanced_subset, read_subset, write_subset
from simclr.errors import ConfigError

LABELS = np.repeat(np.arange(10), 100)[np.random.default_rng(0).permutation(1000)]


@pytest.mark.parametrize(("fraction", "per_class"), [(0.01, 1), (0.1, 10), (0.25, 25), (1.0, 100)])
def test_a_fraction_takes_that_fraction_of_every_class(fraction: float, per_class: int) -> None:
    chosen = class_balanced_subset(LABELS, fraction=fraction, seed=0)
    assert np.array_equal(np.bincount(LABELS[chosen], minlength=10), np.full(10, per_class))
    assert len(np.unique(chosen)) == len(chosen) and np.all(np.diff(chosen) > 0)


def test_labels_per_class_takes_exactly_that_many_of_every_class() -> None:
    chosen = class_balanced_subset(LABELS, per_class=7, seed=3)
    assert np.array_equal(np.bincount(LABELS[chosen]), np.full(10, 7))


def test_the_subset_is_seeded() -> None:
    first = class_balanced_subset(LABELS, fraction=0.05, seed=1)
    assert np.array_equal(first, class_balanced_subset(LABELS, fraction=0.05, seed=1))
    assert not np.array_equal(first, class_balanced_subset(LABELS, fraction=0.05, seed=2))


def test_unlabelled_rows_are_never_chosen() -> None:
    labels = np.array([0, -1, 1, -1, 0, 1, -1, 0, 1])
    chosen = class_balanced_subset(labels, fraction=1.0)
    assert np.array_equal(chosen, np.flatnonzero(labels >= 0))


def test_more_labels_per_class_than_a_class_has_is_one_line() -> None:
    labels = np.array([0] * 10 + [1] * 3)
    with pytest.raises(ConfigError, match="class 1 has only 3") as error:
        class_balanced_subset(labels, per_class=4)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_a_fraction_outside_zero_one_is_refused(fraction: float) -> None:
    with pytest.raises(ConfigError, match="label_fraction"):
        class_balanced_subset(LABELS, fraction=fraction)


def test_both_or_neither_request_is_refused() -> None:
    with pytest.raises(ConfigError, match="one of"):
        class_balanced_subset(LABELS, fraction=0.1, per_class=3)
    with pytest.raises(ConfigError, match="one of"):
        class_balanced_subset(LABELS)


def test_the_written_indices_read_back(tmp_path: Path) -> None:
    chosen = class_balanced_subset(LABELS, per_class=2, seed=0)
    write_subset(tmp_path, chosen, LABELS, split="train", seed=0)
    assert np.array_equal(read_subset(tmp_path), chosen)
