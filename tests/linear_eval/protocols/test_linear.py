"""Tests of linear_eval/protocols/linear.py: separable data, shuffled labels, weight-decay
choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from linear_eval.config import LinearConfig
from linear_eval.protocols.linear import (
    Standardization,
    choose_weight_decay,
    linear_probe,
    torch_threads,
)

pytestmark = pytest.mark.usefixtures("single_thread")

CONFIG = LinearConfig(epochs=20, batch_size=128, weight_decays=[0.0, 1e-4])


def separable(count: int, seed: int, classes: int = 10, dim: int = 32):
    """Classes around orthogonal centres 7 noise-widths apart: separable by a linear map."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, count)
    latent = 5.0 * np.eye(dim)[labels] + rng.normal(size=(count, dim))
    return (latent * 3 + 7).astype(np.float32), labels  # off-centre and scaled on purpose


def test_linearly_separable_features_are_classified_almost_perfectly() -> None:
    train, train_labels = separable(2000, 0)
    test, test_labels = separable(500, 1)
    result = linear_probe(train, train_labels, test, test_labels, CONFIG)
    assert np.bincount(test_labels).max() < 0.2 * len(test_labels)  # no majority class
    assert result.top1 > 0.95
    assert result.top5 > 0.99
    assert result.weight_decay in CONFIG.weight_decays
    assert set(result.held_out_top1) == set(CONFIG.weight_decays)


def test_shuffled_labels_give_chance_accuracy() -> None:
    train, train_labels = separable(2000, 0)
    test, test_labels = separable(1000, 1)
    rng = np.random.default_rng(5)
    result = linear_probe(
        train, rng.permutation(train_labels), test, rng.permutation(test_labels), CONFIG
    )
    assert result.top1 < 0.2  # chance: 0.1 for ten classes
    assert result.top5 < 0.65  # chance: 0.5


def a_feature_of_its_own(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Two classes whose means are 2 noise-widths from 0 on one signal dimension (Bayes accuracy
    97.7%), and for every image a feature of its own: 1000 there, 0 in every other image.

    A held-out image's own feature is 0 in every image the layer is fitted on, so no gradient
    reaches its weight: without weight decay that weight keeps its random initial value, and
    1000 times it swamps the signal (held-out accuracy near chance); a strong decay pulls every
    weight that no fitted image supports to zero and leaves the signal to decide."""
    count = 400
    labels = rng.integers(0, 2, count)
    signal = (labels * 2 - 1) * 2.0 + rng.normal(size=count)
    features = np.concatenate([signal[:, None], 1000.0 * np.eye(count)], 1)
    return features.astype(np.float32), labels, 2


def classes_along_a_line(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Ten classes at 0, 1, ..., 9 on a single feature, 0.1 noise-widths wide.

    A linear layer tells the middle classes apart only with biases that grow with the square of
    the class's place (logit_c = c x - c^2 / 2): large weights. A strong weight decay keeps the
    layer near the centroid solution, whose logits are proportional to x, so it only ever
    predicts one of the two end classes (held-out accuracy about 2 in 10); without decay the
    classes are told apart."""
    count = 2000
    labels = rng.integers(0, 10, count)
    features = labels + rng.normal(scale=0.1, size=count)
    return features[:, None].astype(np.float32), labels, 10


@pytest.mark.parametrize(
    ("construction", "weight_decays", "generalises"),
    [
        # the decay that generalises is neither the first nor the last of the grid, nor the
        # smallest or the largest in one of the two constructions
        (a_feature_of_its_own, [0.0, 1.0, 1e-4], 1.0),
        (classes_along_a_line, [1.0, 0.0, 0.1], 0.0),
    ],
)
def test_the_weight_decay_that_generalises_is_chosen(
    construction, weight_decays: list[float], generalises: float
) -> None:
    features, labels, classes = construction(np.random.default_rng(0))
    config = LinearConfig(
        epochs=30, batch_size=64, lr=0.1, weight_decays=weight_decays, held_out_fraction=0.5
    )
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    decay, held_out = choose_weight_decay(x, y, classes, config, seed=0)
    assert set(held_out) == set(weight_decays)
    # as the construction argues: one decay is far better on the held-out images than the rest
    assert held_out[generalises] > 0.3 + max(v for d, v in held_out.items() if d != generalises)
    assert decay == generalises


def test_a_single_weight_decay_needs_no_held_out_split() -> None:
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    config = LinearConfig(weight_decays=[1e-3])
    assert choose_weight_decay(x, y, 2, config, seed=0) == (1e-3, {})


def test_standardization_gives_zero_mean_unit_std_and_spares_constant_dimensions() -> None:
    features = torch.cat([torch.randn(100, 3) * 5 + 2, torch.full((100, 1), 4.0)], dim=1)
    standardize = Standardization.fit(features)
    out = standardize(features)
    torch.testing.assert_close(out[:, :3].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, :3].std(0), torch.ones(3), atol=1e-5, rtol=0)
    assert torch.equal(out[:, 3], torch.zeros(100))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_probe_is_deterministic_for_a_seed(seed: int) -> None:
    train, train_labels = separable(300, 0)
    config = LinearConfig(epochs=3, batch_size=64, weight_decays=[0.0, 1e-3])
    first = linear_probe(train, train_labels, train, train_labels, config, seed)
    second = linear_probe(train, train_labels, train, train_labels, config, seed)
    assert (first.top1, first.weight_decay) == (second.top1, second.weight_decay)


def test_unlabelled_rows_are_left_out() -> None:
    train, train_labels = separable(600, 0, classes=3)
    train_labels = train_labels.copy()
    train_labels[:100] = -1
    result = linear_probe(train, train_labels, train[100:], train_labels[100:], CONFIG)
    assert result.top1 > 0.9


def test_torch_threads_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    with torch_threads(0):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before
