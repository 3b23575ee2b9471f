"""Weighted k-nearest-neighbour classification of frozen representations, with faiss.

The protocol of Wu et al. 2018 ("Unsupervised Feature Learning via Non-Parametric Instance
Discrimination", section 3.4), used by lightly (``knn_predict``) and solo-learn: cosine
similarity between L2-normalised representations, the k most similar training images vote for
their class with weight exp(sim / T), T = 0.1, and the classes are ranked by their summed
weight. The neighbours come from an exact inner-product index (``faiss.IndexFlatIP``) searched
once for the largest k, in chunks of queries; every smaller k reuses the first columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from linear_eval.features.labelled import class_count, labelled
from linear_eval.features.vectors import exact_index, search
from linear_eval.protocols.metrics import topk_accuracy


def weighted_votes(
    similarities: torch.Tensor,
    neighbour_labels: torch.Tensor,
    num_classes: int,
    temperature: float = 0.1,
) -> torch.Tensor:
    """Class scores (Q, C): sum over the neighbours of exp(sim / T) for the neighbour's class."""
    weights = (similarities.double() / temperature).exp()
    scores = torch.zeros(
        len(similarities), num_classes, dtype=torch.float64, device=similarities.device
    )
    return scores.scatter_add_(1, neighbour_labels.long(), weights)


def knn_classify(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    ks: Sequence[int] = (200,),
    temperature: float = 0.1,
    chunk: int = 1024,
) -> dict[int, dict[str, float]]:
    """{k: {"top1", "top5", "neighbours"}} of the weighted kNN classifier, every k from one
    search; "neighbours" is the number that voted (k, or the gallery size when k exceeds it).

    Training rows with label -1 (unlabelled) are left out of the index, and so are test rows.
    """
    train_features, train_labels = labelled(train_features, train_labels)
    test_features, test_labels = labelled(test_features, test_labels)
    num_classes = class_count(train_labels, test_labels)
    similarities, neighbours = search(exact_index(train_features), test_features, max(ks), chunk)
    neighbour_labels = torch.from_numpy(train_labels[neighbours])
    similarities, labels = torch.from_numpy(similarities), torch.from_numpy(test_labels)
    results = {}
    for k in sorted(set(ks)):
        votes = weighted_votes(
            similarities[:, :k], neighbour_labels[:, :k], num_classes, temperature
        )
        accuracy = topk_accuracy(votes, labels, (1, 5))
        # a k beyond the gallery votes with all of it: said in the result, never silently
        results[k] = {
            "top1": accuracy[1],
            "top5": accuracy[5],
            "neighbours": min(k, len(train_labels)),
        }
    return results
