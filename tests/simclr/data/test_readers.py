"""The readers of the datasets' official formats (simclr/data/readers.py), on small files written
in each real format, called as the registry calls them: ``read(split, *, root, download, ...)``."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from simclr.data.images import ArrayImages, ImageFolder, num_classes_of
from simclr.data.readers import (
    FASHION_MNIST_SYSTEM_DIR,
    cifar_reader,
    read_fashion_mnist,
    read_folder,
    read_stl10,
)
from simclr.errors import DataError

read_cifar10 = cifar_reader(torchvision.datasets.CIFAR10, "cifar10")
read_cifar100 = cifar_reader(torchvision.datasets.CIFAR100, "cifar100")


def images_of(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


# ----------------------------------------------------------------------------- CIFAR


def test_cifar10_reads_the_pickle_batches(cifar10_root) -> None:
    root, images, labels = cifar10_root
    train = read_cifar10("train", root=str(root), download=False)
    test = read_cifar10("test", root=str(root), download=False)
    assert isinstance(train, ArrayImages)
    assert (len(train), len(test)) == (10, 3)
    assert torch.equal(images_of(train), torch.from_numpy(images[:10]))
    assert torch.equal(images_of(test), torch.from_numpy(images[10:]))
    assert train.labels.tolist() == labels[:10].tolist()
    assert train.classes == [f"class{i}" for i in range(10)]
    assert num_classes_of(train) == 10


def test_cifar100_reads_fine_labels(cifar100_root) -> None:
    root, images = cifar100_root
    train = read_cifar100("train", root=str(root), download=False)
    test = read_cifar100("test", root=str(root), download=False)
    assert train.labels.tolist() == [99, 0, 42] and test.labels.tolist() == [5, 6]
    assert torch.equal(images_of(train), torch.from_numpy(images[:3]))
    assert train.classes[42] == "fine42"
    assert num_classes_of(train) == 100


def test_readers_ignore_the_keywords_they_do_not_use(cifar10_root) -> None:
    root, images, _ = cifar10_root
    test = read_cifar10("test", root=str(root), download=False, path=None, channels=1)
    assert torch.equal(test.images, torch.from_numpy(images[10:]))  # as stored: 3 channels


def test_missing_files_without_download_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read cifar10 under data.root") as error:
        read_cifar10("train", root=str(tmp_path), download=False)
    assert "\n" not in str(error.value)


def test_a_cifar_batch_that_would_run_code_is_refused(cifar10_root, tmp_path: Path) -> None:
    root, _, _ = cifar10_root
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    batch = root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({"data": Payload(), "labels": [1]}))
    with pytest.raises(DataError, match="test_batch is refused: it asks for") as error:
        read_cifar10("test", root=str(root), download=False)
    assert "\n" not in str(error.value) and not marker.exists()
    pickle.loads(batch.read_bytes())  # the same bytes do run code under plain pickle
    assert marker.exists()


# ----------------------------------------------------------------------------- STL-10


def test_stl10_images_round_trip_exactly(stl10_root) -> None:
    root, images = stl10_root
    train = read_stl10("train", root=str(root), download=False)
    test = read_stl10("test", root=str(root), download=False)
    assert torch.equal(images_of(train), torch.from_numpy(images[:3]))
    assert torch.equal(images_of(test), torch.from_numpy(images[3:5]))
    assert train.labels.tolist() == [0, 9, 3] and test.labels.tolist() == [1, 2]


def test_stl10_train_plus_unlabeled_marks_the_unlabeled_part(stl10_root) -> None:
    root, images = stl10_root
    both = read_stl10("train+unlabeled", root=str(root), download=False)
    assert both.labels.tolist() == [0, 9, 3, -1, -1, -1, -1]
    assert torch.equal(images_of(both), torch.from_numpy(np.concatenate([images[:3], images[5:]])))
    assert num_classes_of(both) == 10


# ----------------------------------------------------------------------------- folder


def test_read_folder_reads_the_folder_at_path_in_the_channels_asked(
    tmp_path: Path, mixed_images
) -> None:
    mixed_images.write(tmp_path / "images")
    folder = read_folder("all", root="unused", download=False, path=str(tmp_path), channels=1)
    assert isinstance(folder, ImageFolder) and folder.channels == 1
    assert folder.root == tmp_path and len(folder) == mixed_images.count
    assert folder.classes == ["images"]


# ----------------------------------------------------------------------------- Fashion-MNIST


def first_idx_image(path: Path) -> torch.Tensor:
    """The first 28 x 28 image of an IDX3 file, read from the bytes after its 16-byte header."""
    with gzip.open(path) as infile:
        data = infile.read(16 + 28 * 28)
    return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).view(1, 28, 28)


def test_fashion_mnist_from_the_system_dir(fashion_mnist_root: Path) -> None:
    train = read_fashion_mnist("train", root=str(fashion_mnist_root), download=False)
    test = read_fashion_mnist("test", root=str(fashion_mnist_root), download=False)
    assert (len(train), len(test)) == (60000, 10000)
    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.uint8
    assert torch.equal(
        image, first_idx_image(FASHION_MNIST_SYSTEM_DIR / "train-images-idx3-ubyte.gz")
    )
    assert torch.equal(
        test[0][0], first_idx_image(FASHION_MNIST_SYSTEM_DIR / "t10k-images-idx3-ubyte.gz")
    )
    assert 0 <= label < 10
    assert sorted(set(train.labels.tolist())) == list(range(10))
    assert num_classes_of(train) == 10 and len(train.classes) == 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
