"""Top-k accuracy from class scores: the fraction of images whose label is among the k best.

Computed by torchmetrics (``multiclass_accuracy`` with ``top_k``, micro-averaged: every image
counts once). Ties: top-1 is the argmax, so among classes with equal best scores the lowest
class index is the prediction; for k > 1 the classes tied at the k-th place are chosen by
``torch.topk``, which torch leaves unspecified. Weighted kNN votes tie in practice only when
fewer than k classes received a vote (the rest score 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics.functional.classification import multiclass_accuracy


def topk_accuracy(
    scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """{k: top-k accuracy} for scores (N, C) and labels (N,); k is capped at C."""
    classes = scores.shape[1]
    if len(labels) == 0:
        return {k: float("nan") for k in ks}
    if classes == 1:  # torchmetrics needs two classes; with one, every label is the best class
        return {k: 1.0 for k in ks}
    return {
        k: multiclass_accuracy(
            scores, labels, num_classes=classes, top_k=min(k, classes), average="micro"
        ).item()
        for k in ks
    }
