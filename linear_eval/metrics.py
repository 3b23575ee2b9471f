"""Top-k accuracy from class scores: the fraction of images whose label is among the k best."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def topk_accuracy(
    scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """{k: top-k accuracy} for scores (N, C) and labels (N,); k is capped at C."""
    if len(labels) == 0:
        return {k: float("nan") for k in ks}
    best = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices
    hits = best == labels.view(-1, 1)
    return {k: hits[:, : min(k, scores.shape[1])].any(dim=1).float().mean().item() for k in ks}
