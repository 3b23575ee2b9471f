"""Tests of linear_eval/protocols/metrics.py by hand computation and against a brute-force count."""

from __future__ import annotations

import pytest
import torch

from linear_eval.protocols.metrics import topk_accuracy


def test_topk_accuracy_by_hand() -> None:
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = torch.tensor([1, 1, 0, 2])  # ranks of the true class: 1, 2, 3, 3
    accuracy = topk_accuracy(scores, labels, (1, 2, 5))
    assert accuracy == {1: 0.25, 2: 0.5, 5: 1.0}  # k is capped at the 3 classes


def rank_counts(scores: torch.Tensor, labels: torch.Tensor) -> list[tuple[int, int, int]]:
    """Per image, counted class by class: (classes scoring higher than the label, classes
    scoring the same, those of them with a lower index)."""
    counts = []
    for row, label in zip(scores, labels.tolist()):
        own = row[label]
        tied = row == own
        counts.append((int((row > own).sum()), int(tied.sum()) - 1, int(tied[:label].sum())))
    return counts


def count(accuracy: float, images: int) -> int:
    return round(accuracy * images)


@pytest.mark.parametrize("classes", [3, 10, 1000])
@pytest.mark.parametrize("levels", [2, 4, None], ids=["0-1", "4-levels", "continuous"])
def test_topk_accuracy_equals_a_brute_force_count_with_ties(classes: int, levels) -> None:
    generator = torch.Generator().manual_seed(classes)
    images = 2000
    if levels is None:
        scores = torch.randn(images, classes, generator=generator, dtype=torch.float64)
    else:  # few distinct scores, as kNN votes of classes that got none (0)
        scores = torch.randint(0, levels, (images, classes), generator=generator).double()
    labels = torch.randint(0, classes, (images,), generator=generator)
    accuracy = topk_accuracy(scores, labels, (1, 5))
    counts = rank_counts(scores, labels)

    # top-1 is the argmax: of equal best scores, the lowest class index wins
    argmax_hits = sum(higher == 0 and lower_tied == 0 for higher, _, lower_tied in counts)
    assert count(accuracy[1], images) == argmax_hits

    # top-5: a label tied at the 5th place may or may not count (torch.topk's choice); every
    # other image is decided, and those are counted exactly
    k = min(5, classes)
    sure = torch.tensor([higher + tied < k or higher >= k for higher, tied, _ in counts])
    sure_hits = sum(higher + tied < k for higher, tied, _ in counts)
    undecided = images - int(sure.sum())
    assert sure_hits <= count(accuracy[5], images) <= sure_hits + undecided
    decided = topk_accuracy(scores[sure], labels[sure], (5,))[5]
    assert count(decided, int(sure.sum())) == sure_hits
    if levels is not None and classes > 5:
        assert undecided > 0  # the ties this test is about did occur


def test_no_images_give_nan_and_one_class_is_always_right() -> None:
    empty = topk_accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), (1, 5))
    assert all(value != value for value in empty.values())
    assert topk_accuracy(torch.randn(4, 1), torch.zeros(4, dtype=torch.long)) == {1: 1.0, 5: 1.0}
