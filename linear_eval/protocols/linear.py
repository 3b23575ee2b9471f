"""Linear evaluation: one linear layer trained on frozen, cached representations h.

The standard protocol (SimCLR section 4 "Linear evaluation", appendix B.6; Kolesnikov et al.
2019): the encoder is frozen, a single linear layer is trained with cross-entropy on the
representations of the training split and top-1 / top-5 accuracy are reported on the test
split. Here the representations are standardised with the training split's per-dimension mean
and std, the layer is trained with SGD (Nesterov momentum, cosine learning-rate decay), and the
L2 weight decay is chosen from a grid on a held-out part of the training split before the
final layer is trained on the whole training split.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from linear_eval.config import LinearConfig
from linear_eval.features.labelled import class_count, labelled
from linear_eval.progress import Progress
from linear_eval.protocols.classifier import linear_classifier
from linear_eval.protocols.metrics import topk_accuracy


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` (0: unchanged) inside the block."""
    previous = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class Standardization:
    """Per-dimension (h - mean) / std with the training split's statistics."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, features: torch.Tensor) -> Standardization:
        std = features.std(dim=0)
        return cls(features.mean(dim=0), torch.where(std > 1e-6, std, torch.ones_like(std)))

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std


@dataclass
class LinearProbeResult:
    top1: float
    top5: float
    weight_decay: float
    held_out_top1: dict[float, float] = field(default_factory=dict)
    seconds: float = 0.0


def train_linear_classifier(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    weight_decay: float,
    config: LinearConfig,
    seed: int = 0,
) -> nn.Linear:
    """A linear layer trained with cross-entropy on (already standardised) ``features``."""
    generator = torch.Generator().manual_seed(seed)
    batch_size = min(config.batch_size, len(features))
    steps_per_epoch = -(-len(features) // batch_size)
    classifier = linear_classifier(
        features.shape[1],
        num_classes,
        config.lr,
        config.momentum,
        weight_decay,
        config.epochs * steps_per_epoch,
        seed,
    )
    for _ in range(config.epochs):
        order = torch.randperm(len(features), generator=generator)
        for begin in range(0, len(features), batch_size):
            rows = order[begin : begin + batch_size]
            classifier.step(F.cross_entropy(classifier.layer(features[rows]), labels[rows]))
    return classifier.layer.eval()


def _accuracy(classifier: nn.Linear, features: torch.Tensor, labels: torch.Tensor) -> dict:
    with torch.no_grad():
        return topk_accuracy(classifier(features), labels, (1, 5))


def _labelled(features: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The labelled rows as float32 tensors (a copy: the features may be memory-mapped)."""
    rows, known = labelled(features, labels)
    return torch.from_numpy(np.array(rows, dtype=np.float32)), torch.from_numpy(np.array(known))


def held_out_size(count: int, config: LinearConfig) -> int:
    """The training rows held out to choose the weight decay (none for a grid of one)."""
    if len(config.weight_decays) == 1:
        return 0
    return max(1, round(config.held_out_fraction * count))


def choose_weight_decay(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    config: LinearConfig,
    seed: int,
    progress: Progress | None = None,
) -> tuple[float, dict[float, float]]:
    """The weight decay of the grid with the best top-1 on a held-out part of the training split;
    a ``progress`` step after each fit."""
    if len(config.weight_decays) == 1:
        return config.weight_decays[0], {}
    progress = progress or Progress("", enabled=False)
    order = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))
    held_out = held_out_size(len(features), config)
    fit_rows, held_rows = order[held_out:], order[:held_out]
    standardize = Standardization.fit(features[fit_rows])
    fit_x, held_x = standardize(features[fit_rows]), standardize(features[held_rows])
    scores = {}
    for decay in config.weight_decays:
        classifier = train_linear_classifier(
            fit_x, labels[fit_rows], num_classes, decay, config, seed
        )
        scores[decay] = _accuracy(classifier, held_x, labels[held_rows])[1]
        progress.step(f"weight decay {decay:g}: held-out top-1 {100 * scores[decay]:.2f} %")
    best = max(config.weight_decays, key=lambda decay: scores[decay])  # first of equal scores
    return best, scores


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    config: LinearConfig,
    seed: int = 0,
    progress: Progress | None = None,
) -> LinearProbeResult:
    """Top-1 / top-5 on the test split of a linear layer trained on the training split; with
    ``progress``, a line per fit (the weight-decay search, then the final fit) and its ETA."""
    start = time.perf_counter()
    train_x, train_y = _labelled(train_features, train_labels)
    test_x, test_y = _labelled(test_features, test_labels)
    num_classes = class_count(train_y.numpy(), test_y.numpy())
    progress = progress or Progress("", enabled=False)
    _announce(progress, len(train_x), config)
    with torch_threads(config.threads):
        decay, held_out = choose_weight_decay(train_x, train_y, num_classes, config, seed, progress)
        standardize = Standardization.fit(train_x)
        classifier = train_linear_classifier(
            standardize(train_x), train_y, num_classes, decay, config, seed
        )
        accuracy = _accuracy(classifier, standardize(test_x), test_y)
    progress.step(f"final fit, weight decay {decay:g}: test top-1 {100 * accuracy[1]:.2f} %")
    return LinearProbeResult(
        accuracy[1], accuracy[5], decay, held_out, seconds=time.perf_counter() - start
    )


def _announce(progress: Progress, count: int, config: LinearConfig) -> None:
    """The fits to come, each weighed by its training rows (the time an epoch takes)."""
    searched = count - held_out_size(count, config)
    searches = len(config.weight_decays) if len(config.weight_decays) > 1 else 0
    plan = f"{searches + 1} fits of {config.epochs} epochs"
    if searches:
        plan += (
            f" ({searches} weight decays on {searched:,} images, {count - searched:,} held "
            f"out; then the final one on {count:,})"
        )
    progress.begin("linear probe", [searched] * searches + [count], plan)
