"""A configured split (simclr/data/splits.py): read by its registered reader, subset, converted
to ``image_size`` and ``channels``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from simclr.data.images import ArrayImages
from simclr.data.registry import DATASETS
from simclr.data.splits import load_split, subset_indices
from simclr.errors import DataError
from simclr.preprocess import prepare_image


def images_of(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def test_the_reader_is_called_with_the_split_and_keywords_of_the_config(
    tmp_path: Path, data_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def read(split: str, **keywords) -> ArrayImages:
        calls.append((split, keywords))
        return ArrayImages(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.arange(4))

    spec = dataclasses.replace(DATASETS["fashion_mnist"], read=read)
    monkeypatch.setitem(DATASETS, "recorded", spec)
    config = data_config(tmp_path, "recorded", path="images", image_size=8, channels=3)
    dataset = load_split(config, "test")
    keywords = {
        "root": str(tmp_path),
        "download": False,
        "path": "images",
        "channels": 3,
        "val_fraction": None,
    }
    assert calls == [("test", keywords)]
    assert dataset.images.shape == (4, 3, 8, 8)  # grey copied into the 3 channels asked for


def test_cifar10_resizes_and_converts_channels(cifar10_root, data_config) -> None:
    root, _, _ = cifar10_root
    image, label = load_split(data_config(root, "cifar10", image_size=16, channels=1), "test")[0]
    assert image.shape == (1, 16, 16) and image.dtype == torch.uint8 and label == 7


def test_unknown_split_is_refused(stl10_root, data_config) -> None:
    root, _ = stl10_root
    with pytest.raises(DataError, match="split 'extra' of stl10 is unknown"):
        load_split(data_config(root, "stl10"), "extra")
    with pytest.raises(DataError, match="split 'val' of stl10 is unknown"):  # none held out
        load_split(data_config(root, "stl10", val_fraction=0), "val")


# ----------------------------------------------------------------------------- subsets


@pytest.mark.parametrize(
    "subset, count", [(0.25, 25), (1.0, 100), (0.004, 0), (10, 10), (100, 100)]
)
def test_subset_as_fraction_or_count(subset: float, count: int) -> None:
    indices = subset_indices(100, subset, seed=0)
    assert len(indices) == count == len(set(indices))
    assert indices == sorted(indices) and all(0 <= i < 100 for i in indices)
    assert subset_indices(100, subset, seed=0) == indices  # reproducible


def test_subset_depends_on_the_seed_and_none_keeps_all() -> None:
    assert subset_indices(100, 10, seed=0) != subset_indices(100, 10, seed=1)
    assert subset_indices(100, None, seed=0) is None


def test_subset_larger_than_the_split_is_refused() -> None:
    with pytest.raises(DataError, match="asks for 101 images but the split has 100"):
        subset_indices(100, 101, seed=0)


def test_subset_picks_those_images_and_labels(cifar10_root, data_config) -> None:
    root, images, labels = cifar10_root
    dataset = load_split(data_config(root, "cifar10", image_size=32), "train", subset=4, seed=9)
    indices = subset_indices(10, 4, seed=9)
    assert torch.equal(images_of(dataset), torch.from_numpy(images[indices]))
    assert dataset.labels.tolist() == labels[indices].tolist()


def test_in_memory_split_is_prepared_at_once_as_image_by_image(cifar10_root, data_config) -> None:
    root, images, _ = cifar10_root
    for size, channels in [(20, 1), (40, 3), (32, 1)]:
        config = data_config(root, "cifar10", image_size=size, channels=channels)
        dataset = load_split(config, "train")
        expected = [prepare_image(torch.from_numpy(image), size, channels) for image in images]
        assert isinstance(dataset, ArrayImages)
        assert torch.equal(dataset.images, torch.stack(expected[:10]))
