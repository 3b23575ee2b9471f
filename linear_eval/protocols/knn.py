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

import faiss
import numpy as np
import torch

from linear_eval.features.labelled import class_count, labelled
from linear_eval.protocols.metrics import topk_accuracy

ADD_CHUNK = 65_536


def normalized(features: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit L2 norm (all-zero rows stay zero)."""
    features = np.array(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def exact_index(gallery: np.ndarray) -> faiss.IndexFlatIP:
    """An exact inner-product index over the L2-normalised rows of ``gallery``, added in chunks."""
    index = faiss.IndexFlatIP(gallery.shape[1])
    for begin in range(0, len(gallery), ADD_CHUNK):
        index.add(normalized(gallery[begin : begin + ADD_CHUNK]))
    return index


def search(
    index: faiss.Index, queries: np.ndarray, k: int, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities (Q, k) and gallery rows (Q, k) of each query's k nearest neighbours."""
    k = min(k, index.ntotal)
    similarities = np.empty((len(queries), k), np.float32)
    neighbours = np.empty((len(queries), k), np.int64)
    for begin in range(0, len(queries), chunk):
        end = begin + chunk
        similarities[begin:end], neighbours[begin:end] = index.search(
            normalized(queries[begin:end]), k
        )
    return similarities, neighbours


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
