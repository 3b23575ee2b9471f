"""The readers of the datasets' official formats (simclr/data/readers.py), on small files written
in each real format, called as the registry calls them: ``read(split, *, root, download, ...)``."""

from __future__ import annotations

import gzip
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
import torchvision.datasets.utils

from simclr.data import readers
from simclr.data.checksums import md5_of
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


@pytest.mark.parametrize("checksum_matches", [False, True])
def test_a_cifar_batch_that_would_run_code_is_refused(
    cifar10_root, tmp_path: Path, register_checksums, checksum_matches: bool
) -> None:
    root, _, _ = cifar10_root
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    batch = root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({"data": Payload(), "labels": [1]}))
    refusal = "test_batch is truncated or altered"
    if checksum_matches:  # an md5 collision: the unpickler still refuses it
        register_checksums(batch.parent)
        refusal = "test_batch is refused: it asks for"
    with pytest.raises(DataError, match=refusal) as error:
        read_cifar10("test", root=str(root), download=False)
    assert "\n" not in str(error.value) and not marker.exists()
    pickle.loads(batch.read_bytes())  # the same bytes do run code under plain pickle
    assert marker.exists()


# ----------------------------------------------------------------------------- official files


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, flip_last_byte])
def test_a_damaged_cifar_batch_is_refused_before_any_batch_is_read(
    cifar10_root, monkeypatch: pytest.MonkeyPatch, damage
) -> None:
    root, _, _ = cifar10_root
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    damage(batch)

    def no_reading(path):
        raise AssertionError(f"{path} was read before every file was checked")

    monkeypatch.setattr(readers, "load_plain_pickle", no_reading)
    with pytest.raises(DataError) as error:
        read_cifar10("train", root=str(root), download=False)
    message = str(error.value)
    assert message.startswith(f"cifar10 file {batch} is truncated or altered")
    assert "data.download=true" in message and "\n" not in message


@pytest.mark.parametrize("damage", [truncate, flip_last_byte])
def test_a_damaged_stl10_file_is_refused(stl10_root, damage) -> None:
    root, _ = stl10_root
    images = root / "stl10_binary" / "test_X.bin"
    damage(images)
    with pytest.raises(DataError) as error:
        read_stl10("test", root=str(root), download=False)
    message = str(error.value)
    assert message.startswith(f"stl10 file {images} is truncated or altered")
    assert "data.download=true" in message and "\n" not in message


def test_only_the_files_of_the_split_are_checked(stl10_root) -> None:
    root, images = stl10_root
    truncate(root / "stl10_binary" / "unlabeled_X.bin")  # not read by the test split
    test = read_stl10("test", root=str(root), download=False)
    assert torch.equal(images_of(test), torch.from_numpy(images[3:5]))
    with pytest.raises(DataError, match="unlabeled_X.bin is truncated or altered"):
        read_stl10("train+unlabeled", root=str(root), download=False)


class OfflineDownload:
    """torchvision's download with the network replaced: ``serve(cls, root)`` makes ``cls.url``
    serve an archive of what the dataset fixture wrote under ``root`` and returns its md5;
    ``asked`` lists the URLs fetched. The rest (the archive's md5 check, the extraction) is
    torchvision's own."""

    def __init__(self, archives: Path) -> None:
        self.archives = archives
        self.served: dict[str, bytes] = {}
        self.asked: list[str] = []

    def serve(self, cls: type, root: Path) -> str:
        archive = self.archives / cls.filename
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(root / cls.base_folder, arcname=cls.base_folder)
        self.served[cls.url] = archive.read_bytes()
        return md5_of(archive)

    def urlretrieve(self, url: str, filename: str, *args) -> None:
        self.asked.append(url)
        Path(filename).write_bytes(self.served[url])


@pytest.fixture
def offline_download(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> OfflineDownload:
    download = OfflineDownload(tmp_path_factory.mktemp("served"))
    monkeypatch.setattr(torchvision.datasets.utils, "_get_redirect_url", lambda url, **_: url)
    monkeypatch.setattr(torchvision.datasets.utils, "_urlretrieve", download.urlretrieve)
    return download


DOWNLOADS = [
    ("cifar10_root", torchvision.datasets.CIFAR10, read_cifar10, "test_batch"),
    ("stl10_root", torchvision.datasets.STL10, read_stl10, "test_X.bin"),
]


@pytest.mark.parametrize("fixture, cls, read, damaged", DOWNLOADS, ids=["cifar10", "stl10"])
def test_download_replaces_a_damaged_file_through_torchvisions_md5_check(
    request, monkeypatch: pytest.MonkeyPatch, offline_download, fixture, cls, read, damaged
) -> None:
    root, images = request.getfixturevalue(fixture)[:2]
    # the served archive is the official one, to torchvision
    monkeypatch.setattr(cls, "tgz_md5", offline_download.serve(cls, root))
    truncate(root / cls.base_folder / damaged)
    test = read("test", root=str(root), download=True)
    assert offline_download.asked == [cls.url]
    expected = images[10:] if cls is torchvision.datasets.CIFAR10 else images[3:5]
    assert torch.equal(images_of(test), torch.from_numpy(expected))


@pytest.mark.parametrize("fixture, cls, read, damaged", DOWNLOADS, ids=["cifar10", "stl10"])
def test_a_download_that_fails_torchvisions_md5_check_is_refused(
    request, offline_download, fixture, cls, read, damaged
) -> None:
    root = request.getfixturevalue(fixture)[0]
    offline_download.serve(cls, root)  # not the official archive: its md5 is not cls.tgz_md5
    truncate(root / cls.base_folder / damaged)
    with pytest.raises(DataError, match="^cannot download ") as error:
        read("test", root=str(root), download=True)
    assert str(error.value).endswith(f" to {root / cls.filename}: File not found or corrupted.")
    assert offline_download.asked == [cls.url] and "\n" not in str(error.value)


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
