"""Tests of linear_eval/metrics.py by hand computation."""

from __future__ import annotations

import torch

from linear_eval.metrics import topk_accuracy


def test_topk_accuracy_by_hand() -> None:
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = torch.tensor([1, 1, 0, 2])  # ranks of the true class: 1, 2, 3, 3
    accuracy = topk_accuracy(scores, labels, (1, 2, 5))
    assert accuracy == {1: 0.25, 2: 0.5, 5: 1.0}  # k is capped at the 3 classes
