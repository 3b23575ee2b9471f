"""Tests of linear_eval/protocols/knn_classifier.py: the kNN block gives the offline protocol's
accuracy (faiss, :func:`knn_classify`), the votes of the formula evaluated by hand, the same
result from 2 gloo processes as from one, and one clear error for a bad argument."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from linear_eval.protocols.knn import knn_classify
from linear_eval.protocols.knn_classifier import WeightedKNNClassifier


def _data(seed: int, gallery: int = 300, queries: int = 120, dim: int = 12, classes: int = 6):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator)
    labels = torch.randint(0, classes, (gallery + queries,), generator=generator)
    features = centres[labels] + 1.5 * torch.randn(gallery + queries, dim, generator=generator)
    labels[::17] = -1  # unlabelled rows: left out on both sides
    return features[:gallery], labels[:gallery], features[gallery:], labels[gallery:]


@pytest.mark.parametrize(
    ("k", "temperature", "chunk_size"),
    [(1, 0.1, 1024), (20, 0.1, 7), (50, 0.5, 64), (999, 0.07, 5)],
)
def test_the_block_scores_as_the_offline_protocol(
    k: int, temperature: float, chunk_size: int
) -> None:
    gallery, gallery_labels, queries, labels = _data(seed=k)
    knn = WeightedKNNClassifier(6, k=k, temperature=temperature, chunk_size=chunk_size)
    for rows in torch.arange(len(gallery)).split(64):  # the gallery in batches, as a loop adds it
        knn.update(gallery[rows], gallery_labels[rows], gallery=True)
    knn.update(queries[:50], labels[:50])
    knn.update(queries[50:], labels[50:])
    result = knn.compute()
    offline = knn_classify(
        gallery.numpy(), gallery_labels.numpy(), queries.numpy(), labels.numpy(), (k,), temperature
    )[k]
    assert result["top1"].item() == pytest.approx(offline["top1"], abs=1e-9)
    assert result["top5"].item() == pytest.approx(offline["top5"], abs=1e-9)
    assert 0.2 < result["top1"].item() < 1.0  # a task neither trivial nor hopeless


def test_the_votes_are_the_formula_evaluated_by_hand() -> None:
    """Gallery at 0, 60 and 180 degrees, labels 0, 1, 1; a query at 10 degrees, label 0.
    k = 2: neighbours at 0 (cos 10) and 60 (cos 50) degrees; class 0 scores exp(cos(10) / T),
    class 1 exp(cos(50) / T): class 0 wins. k = 3 adds exp(cos(170) / T) to class 1, and with
    T = 10 the two of class 1 outweigh the one of class 0."""
    angles = torch.tensor([0.0, 60.0, 180.0]) * math.pi / 180
    gallery = torch.stack([angles.cos(), angles.sin()], dim=1) * torch.tensor([[2.0], [0.5], [3.0]])
    query = torch.tensor([[math.cos(math.pi / 18), math.sin(math.pi / 18)]])
    gallery_labels, label = torch.tensor([0, 1, 1]), torch.tensor([0])

    def top1(k: int, temperature: float) -> float:
        knn = WeightedKNNClassifier(2, k=k, temperature=temperature)
        knn.update(gallery, gallery_labels, gallery=True)
        knn.update(query, label)
        return knn.compute()["top1"].item()

    cos = [math.cos(math.radians(d)) for d in (10, 50, 170)]
    assert math.exp(cos[0] / 0.1) > math.exp(cos[1] / 0.1) and top1(2, 0.1) == 1.0
    assert math.exp(cos[0] / 10) < math.exp(cos[1] / 10) + math.exp(cos[2] / 10)
    assert top1(3, 10.0) == 0.0 and top1(3, 0.1) == 1.0


def test_reset_empties_the_gallery_and_the_queries() -> None:
    gallery, gallery_labels, queries, labels = _data(seed=3)
    knn = WeightedKNNClassifier(6, k=10)
    knn.update(gallery, gallery_labels, gallery=True)
    knn.update(queries, labels)
    first = knn.compute()
    knn.reset()
    with pytest.raises(ValueError, match="no gallery or no queries"):
        knn.compute()
    knn.update(gallery, gallery_labels, gallery=True)
    knn.update(queries, labels)
    assert knn.compute() == first


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"num_classes": 1}, "num_classes=1"),
        ({"num_classes": 10, "k": 0}, "k=0"),
        ({"num_classes": 10, "k": 2.5}, "k=2.5"),
        ({"num_classes": 10, "temperature": 0.0}, "temperature=0.0"),
        ({"num_classes": 10, "temperature": float("nan")}, "temperature=nan"),
        ({"num_classes": 10, "temperature": float("inf")}, "temperature=inf"),
        ({"num_classes": 10, "chunk_size": 0}, "chunk_size=0"),
    ],
)
def test_a_bad_argument_is_one_clear_error(arguments: dict, named: str) -> None:
    with pytest.raises(ValueError, match=f"^{named} is invalid"):
        WeightedKNNClassifier(**arguments)


def test_features_and_labels_of_different_lengths_are_refused() -> None:
    knn = WeightedKNNClassifier(3)
    with pytest.raises(ValueError, match=r"features \(N, D\) and labels \(N,\) expected"):
        knn.update(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long))


# ----------------------------------------------------------------------------- distributed
def _worker(rank: int, init_file: str, out_dir: str) -> None:
    """One rank: its own half of the gallery and of the queries (uneven halves)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        gallery, gallery_labels, queries, labels = _data(seed=11)
        g, q = (slice(0, 170), slice(0, 45)) if rank == 0 else (slice(170, None), slice(45, None))
        knn = WeightedKNNClassifier(6, k=25)
        knn.update(gallery[g], gallery_labels[g], gallery=True)
        knn.update(queries[q], labels[q])
        torch.save(knn.compute(), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_score_as_one_with_every_image(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    gallery, gallery_labels, queries, labels = _data(seed=11)
    one = WeightedKNNClassifier(6, k=25)
    one.update(gallery, gallery_labels, gallery=True)
    one.update(queries, labels)
    expected = one.compute()
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert {name: value.item() for name, value in result.items()} == pytest.approx(
            {name: value.item() for name, value in expected.items()}
        )
    assert not np.isnan(expected["top1"].item())
