"""Tests of linear_eval/linear.py: separable data, shuffled labels, weight-decay choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from linear_eval.config import LinearConfig
from linear_eval.linear import (
    Standardization,
    choose_weight_decay,
    linear_probe,
    torch_threads,
)

pytest_plugins = ["eval_fixtures"]
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


def test_the_weight_decay_that_generalises_is_chosen() -> None:
    # far more dimensions than images: only a strong penalty keeps the held-out accuracy up
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    signal = (labels * 2 - 1)[:, None] * 0.3
    features = np.concatenate([signal + rng.normal(size=(200, 1)), rng.normal(size=(200, 400))], 1)
    config = LinearConfig(epochs=30, batch_size=200, lr=0.5, weight_decays=[0.0, 3.0])
    x, y = torch.from_numpy(features.astype(np.float32)), torch.from_numpy(labels)
    decay, held_out = choose_weight_decay(x, y, 2, config, seed=0)
    assert decay == max(held_out, key=held_out.get)
    assert held_out[decay] >= max(held_out.values())


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
