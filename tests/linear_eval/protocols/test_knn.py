"""Tests of linear_eval/protocols/knn.py against brute force and hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from linear_eval.protocols.knn import knn_classify, weighted_votes

pytestmark = pytest.mark.usefixtures("single_thread")


def test_weighted_votes_match_a_hand_computed_example() -> None:
    # query 0: neighbours of classes 0, 1, 1 at cosine 0.9, 0.5, 0.1; T = 0.1
    similarities = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.2, 0.3]])
    labels = torch.tensor([[0, 1, 1], [2, 2, 1]])
    votes = weighted_votes(similarities, labels, num_classes=3, temperature=0.1)
    expected = torch.tensor(
        [
            [math.exp(9), math.exp(5) + math.exp(1), 0.0],
            [0.0, math.exp(3), 2 * math.exp(2)],
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(votes, expected, rtol=1e-6, atol=0)  # sims are float32
    assert votes.argmax(dim=1).tolist() == [0, 1]  # one close neighbour outvotes two far ones


def test_the_temperature_decides_between_many_far_and_one_close_neighbour() -> None:
    similarities = torch.tensor([[0.9, 0.8, 0.8]])
    labels = torch.tensor([[0, 1, 1]])
    assert weighted_votes(similarities, labels, 2, temperature=0.01).argmax().item() == 0
    assert weighted_votes(similarities, labels, 2, temperature=1.0).argmax().item() == 1


def brute_force_knn_top1(train, train_labels, test, test_labels, k, temperature, classes):
    """InstDisc kNN written out with torch, one query at a time."""
    g = torch.nn.functional.normalize(torch.from_numpy(train).double(), dim=1)
    correct = 0
    for query, label in zip(torch.from_numpy(test).double(), test_labels):
        sims = g @ torch.nn.functional.normalize(query, dim=0)
        top = sims.topk(k)
        scores = torch.zeros(classes, dtype=torch.float64)
        for sim, row in zip(top.values, top.indices):
            scores[train_labels[row]] += torch.exp(sim / temperature)
        correct += int(scores.argmax().item() == label)
    return correct / len(test_labels)


def test_knn_accuracy_for_every_k_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16)) * 1.5
    train_labels = rng.integers(0, 5, 400)
    test_labels = rng.integers(0, 5, 60)
    train = (centres[train_labels] + rng.normal(size=(400, 16))).astype(np.float32)
    test = (centres[test_labels] + rng.normal(size=(60, 16))).astype(np.float32)
    results = knn_classify(train, train_labels, test, test_labels, ks=(1, 10, 200), chunk=16)
    for k in (1, 10, 200):
        truth = brute_force_knn_top1(train, train_labels, test, test_labels, k, 0.1, 5)
        assert results[k]["top1"] == pytest.approx(truth)
        assert results[k]["top5"] == 1.0  # five classes: the label is always among the top 5


def test_unlabelled_rows_neither_vote_nor_count() -> None:
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]], np.float32)
    train_labels = np.array([0, 1, -1])
    test = np.array([[1.0, 0.05], [0.0, 1.0], [5.0, 5.0]], np.float32)
    test_labels = np.array([0, 1, -1])
    results = knn_classify(train, train_labels, test, test_labels, ks=(1,))
    assert results[1]["top1"] == 1.0
