"""The weighted kNN classifier as a block: a torchmetrics ``Metric`` that a user's own training
loop (a LightningModule's validation, say) fills with a gallery and queries, on any device and
under several processes.

The protocol of :mod:`linear_eval.protocols.knn` (Wu et al. 2018, section 3.4): cosine
similarity between L2-normalised representations, the k most similar gallery images vote for
their class with weight exp(sim / T), classes ranked by their summed weight. ``simclr eval``
searches cached features with faiss; this block searches with a matrix product on the
features' own device (a GPU during training), in chunks of queries, and gives the same top-1.
torchmetrics concatenates the gallery and the queries of every process before ``compute``
(its ``dist_reduce_fx="cat"``), so under DDP each rank's images vote and are scored once.

Rows labelled -1 (unlabelled) are left out of the gallery and of the queries, as offline.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from linear_eval.protocols.knn import weighted_votes
from linear_eval.protocols.metrics import topk_accuracy
from simclr.errors import require


class WeightedKNNClassifier(Metric):
    """Top-1 and top-5 accuracy of the weighted kNN classifier (Wu et al. 2018, section 3.4).

    ``update(h, labels, gallery=True)`` adds gallery images (the training split's
    representations), ``update(h, labels)`` adds queries; ``compute()`` returns
    ``{"top1": ..., "top5": ...}`` as tensors; ``reset()`` empties both, for the next epoch.

    Args:
        num_classes: classes of the labels (at least 2).
        k: neighbours that vote (at least 1; all the gallery when it holds fewer).
        temperature: T of the votes' weight exp(sim / T); finite and above 0.
        chunk_size: queries scored at once (memory: chunk_size x gallery similarities).
    """

    full_state_update = False
    higher_is_better = True

    def __init__(
        self, num_classes: int, k: int = 200, temperature: float = 0.1, chunk_size: int = 1024
    ) -> None:
        super().__init__()
        _require_int("num_classes", num_classes, 2)
        _require_int("k", k, 1)
        _require_int("chunk_size", chunk_size, 1)
        finite = isinstance(temperature, (int, float)) and 0 < temperature < math.inf
        require(finite, "temperature", temperature, "a finite number above 0")
        self.num_classes, self.k = num_classes, k
        self.temperature, self.chunk_size = float(temperature), chunk_size
        for name in ("gallery_features", "gallery_labels", "query_features", "query_labels"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, features: torch.Tensor, labels: torch.Tensor, gallery: bool = False) -> None:
        """Add (N, D) representations with their (N,) labels: to the gallery, or as queries."""
        if features.dim() != 2 or labels.shape != features.shape[:1]:
            raise ValueError(
                f"features (N, D) and labels (N,) expected, got {tuple(features.shape)} and "
                f"{tuple(labels.shape)}"
            )
        known = labels >= 0
        rows = F.normalize(features.detach()[known].float(), dim=1)
        prefix = "gallery" if gallery else "query"
        getattr(self, f"{prefix}_features").append(rows)
        getattr(self, f"{prefix}_labels").append(labels.detach()[known].long())

    def compute(self) -> dict[str, torch.Tensor]:
        """Top-1 and top-5 accuracy of the queries against the gallery."""
        # a state is a list of batches here, one tensor once torchmetrics gathered the processes
        if any(isinstance(s, list) and not s for s in (self.gallery_labels, self.query_labels)):
            raise ValueError("WeightedKNNClassifier has no gallery or no queries: update it first")
        gallery = dim_zero_cat(self.gallery_features)
        gallery_labels = dim_zero_cat(self.gallery_labels)
        queries, labels = dim_zero_cat(self.query_features), dim_zero_cat(self.query_labels)
        if not len(gallery_labels) or not len(labels):
            raise ValueError("WeightedKNNClassifier has no labelled gallery image or query")
        k = min(self.k, len(gallery))
        scores = [
            self._votes(chunk, gallery, gallery_labels, k)
            for chunk in queries.split(self.chunk_size)
        ]
        accuracy = topk_accuracy(torch.cat(scores).cpu(), labels.cpu(), (1, 5))
        device = queries.device
        return {f"top{top}": torch.tensor(value, device=device) for top, value in accuracy.items()}

    def _votes(
        self, queries: torch.Tensor, gallery: torch.Tensor, gallery_labels: torch.Tensor, k: int
    ) -> torch.Tensor:
        similarities, neighbours = (queries @ gallery.T).topk(k, dim=1)
        return weighted_votes(
            similarities, gallery_labels[neighbours], self.num_classes, self.temperature
        )


def _require_int(name: str, value: object, least: int) -> None:
    integer = isinstance(value, int) and not isinstance(value, bool)
    require(integer and value >= least, name, value, f"an integer of at least {least}")
