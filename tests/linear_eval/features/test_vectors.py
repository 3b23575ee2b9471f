"""Tests of linear_eval/features/vectors.py: faiss's exact cosine search against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from linear_eval.features.vectors import exact_index, normalized, search

pytestmark = pytest.mark.usefixtures("single_thread")


def brute_force_neighbours(gallery: np.ndarray, queries: np.ndarray, k: int):
    g = torch.nn.functional.normalize(torch.from_numpy(gallery).double(), dim=1)
    q = torch.nn.functional.normalize(torch.from_numpy(queries).double(), dim=1)
    return (q @ g.T).topk(k, dim=1)


@pytest.mark.parametrize("dim", [3, 64])
@pytest.mark.parametrize("chunk", [1, 7, 1024])
@pytest.mark.parametrize("k", [1, 10])
def test_faiss_neighbours_equal_brute_force(dim: int, chunk: int, k: int) -> None:
    rng = np.random.default_rng(dim + chunk + k)
    gallery = rng.normal(size=(300, dim)).astype(np.float32) * rng.uniform(0.1, 5, (300, 1))
    queries = rng.normal(size=(45, dim)).astype(np.float32)
    similarities, rows = search(exact_index(gallery), queries, k, chunk)
    truth = brute_force_neighbours(gallery, queries, k)
    assert np.array_equal(rows, truth.indices.numpy())
    np.testing.assert_allclose(similarities, truth.values.numpy(), atol=1e-5)


def test_k_larger_than_gallery_returns_the_whole_gallery() -> None:
    gallery = np.eye(4, dtype=np.float32)
    similarities, rows = search(exact_index(gallery), gallery[:2], k=10)
    assert rows.shape == (2, 4)
    assert rows[:, 0].tolist() == [0, 1]
    np.testing.assert_allclose(similarities[:, 0], 1.0, atol=1e-6)


def test_normalized_rows_have_unit_norm_and_zero_rows_stay_zero() -> None:
    rows = normalized(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]])
