"""The dataset readers of simclr/data.py on small files written in each dataset's real format."""

from __future__ import annotations

import gzip
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from simclr.config import DataConfig
from simclr.data import (
    DATASETS,
    FASHION_MNIST_SYSTEM_DIR,
    ArrayImages,
    DataError,
    PreparedImages,
    SimCLRDataModule,
    collate_skipping_unreadable,
    labels_of,
    load_split,
    loader_workers,
    normalization,
    num_classes_of,
    prepare_image,
    subset_indices,
)


def data_config(root: Path, name: str, **values) -> DataConfig:
    return DataConfig(name=name, root=str(root), download=False, num_workers=0, **values)


def random_uint8(shape: tuple, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def pickle_to(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value))


def images_of(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


# ----------------------------------------------------------------------------- CIFAR


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) -> the (N, 3072) rows of the pickle batches: R plane, G plane, B plane."""
    return images.reshape(len(images), 3 * 32 * 32)


@pytest.fixture
def cifar10_root(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """cifar-10-batches-py with 5 training batches of 2 images, a test batch of 3, and meta."""
    images = random_uint8((13, 3, 32, 32), seed=0)
    labels = np.arange(13) % 10
    folder = tmp_path / "cifar-10-batches-py"
    for batch in range(5):
        rows = slice(2 * batch, 2 * batch + 2)
        pickle_to(
            folder / f"data_batch_{batch + 1}",
            {"data": cifar_rows(images[rows]), "labels": labels[rows].tolist()},
        )
    pickle_to(folder / "test_batch", {"data": cifar_rows(images[10:]), "labels": [7, 8, 9]})
    pickle_to(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return tmp_path, images, labels


def test_cifar10_reads_the_pickle_batches(cifar10_root) -> None:
    root, images, labels = cifar10_root
    config = data_config(root, "cifar10", image_size=32)
    train, test = load_split(config, "train"), load_split(config, "test")
    assert (len(train), len(test)) == (10, 3)
    assert torch.equal(images_of(train), torch.from_numpy(images[:10]))
    assert torch.equal(images_of(test), torch.from_numpy(images[10:]))
    assert labels_of(train).tolist() == labels[:10].tolist()
    assert train.classes == [f"class{i}" for i in range(10)]
    assert num_classes_of(train) == 10


def test_cifar10_resizes_and_converts_channels(cifar10_root) -> None:
    root, _, _ = cifar10_root
    image, label = load_split(data_config(root, "cifar10", image_size=16, channels=1), "test")[0]
    assert image.shape == (1, 16, 16) and image.dtype == torch.uint8 and label == 7


def test_cifar100_reads_fine_labels(tmp_path: Path) -> None:
    images = random_uint8((5, 3, 32, 32), seed=1)
    folder = tmp_path / "cifar-100-python"
    pickle_to(
        folder / "train",
        {"data": cifar_rows(images[:3]), "fine_labels": [99, 0, 42], "coarse_labels": [1, 2, 3]},
    )
    pickle_to(
        folder / "test",
        {"data": cifar_rows(images[3:]), "fine_labels": [5, 6], "coarse_labels": [0, 0]},
    )
    pickle_to(folder / "meta", {"fine_label_names": [f"fine{i}" for i in range(100)]})
    config = data_config(tmp_path, "cifar100", image_size=32)
    train, test = load_split(config, "train"), load_split(config, "test")
    assert labels_of(train).tolist() == [99, 0, 42] and labels_of(test).tolist() == [5, 6]
    assert torch.equal(images_of(train), torch.from_numpy(images[:3]))
    assert train.classes[42] == "fine42"
    assert num_classes_of(train) == 100


def test_missing_files_without_download_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read cifar10 under data.root") as error:
        load_split(data_config(tmp_path, "cifar10"), "train")
    assert "\n" not in str(error.value)


# ----------------------------------------------------------------------------- STL-10


def write_stl10_images(path: Path, images: np.ndarray) -> None:
    """STL-10's binary layout: each image's channels stored column-major (C, W, H)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tobytes())


@pytest.fixture
def stl10_root(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """stl10_binary with 3 train, 2 test and 4 unlabelled 96 x 96 images (not square-symmetric)."""
    images = random_uint8((9, 3, 96, 96), seed=2)
    folder = tmp_path / "stl10_binary"
    write_stl10_images(folder / "train_X.bin", images[:3])
    (folder / "train_y.bin").write_bytes(bytes([1, 10, 4]))  # 1-based class numbers
    write_stl10_images(folder / "test_X.bin", images[3:5])
    (folder / "test_y.bin").write_bytes(bytes([2, 3]))
    write_stl10_images(folder / "unlabeled_X.bin", images[5:])
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    return tmp_path, images


def test_stl10_images_round_trip_exactly(stl10_root) -> None:
    root, images = stl10_root
    config = data_config(root, "stl10", image_size=96)
    train, test = load_split(config, "train"), load_split(config, "test")
    assert torch.equal(images_of(train), torch.from_numpy(images[:3]))
    assert torch.equal(images_of(test), torch.from_numpy(images[3:5]))
    assert labels_of(train).tolist() == [0, 9, 3] and labels_of(test).tolist() == [1, 2]


def test_stl10_train_plus_unlabeled_marks_the_unlabeled_part(stl10_root) -> None:
    root, images = stl10_root
    both = load_split(data_config(root, "stl10", image_size=96), "train+unlabeled")
    assert labels_of(both).tolist() == [0, 9, 3, -1, -1, -1, -1]
    assert torch.equal(images_of(both), torch.from_numpy(np.concatenate([images[:3], images[5:]])))
    assert num_classes_of(both) == 10
    assert DATASETS["stl10"].pretrain_split == "train+unlabeled"


def test_unknown_split_is_refused(stl10_root) -> None:
    root, _ = stl10_root
    with pytest.raises(DataError, match="split 'val' of stl10 is unknown"):
        load_split(data_config(root, "stl10"), "val")


# ----------------------------------------------------------------------------- folder

SOLID_RGB = (200, 100, 50)
SOLID_L = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)  # PIL's ITU-R 601-2 luma: 124


def write_mixed_images(folder: Path) -> None:
    """Four images of different sizes and colour modes, all of one colour."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (30, 20), SOLID_RGB).save(folder / "rgb.png")
    Image.new("L", (40, 40), SOLID_L).save(folder / "grey.jpg", quality=100)
    Image.new("RGBA", (12, 50), (*SOLID_RGB, 255)).save(folder / "rgba.png")
    palette = Image.new("P", (17, 17), 0)
    palette.putpalette([*SOLID_RGB, *[0] * 765])  # colour 0 of the palette is SOLID_RGB
    palette.save(folder / "palette.png")


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_with_class_subfolders(tmp_path: Path, channels: int) -> None:
    write_mixed_images(tmp_path / "cats")
    write_mixed_images(tmp_path / "dogs")
    Image.new("RGB", (9, 9), SOLID_RGB).save(tmp_path / "loose.png")
    dataset = load_split(
        data_config(tmp_path, "folder", path=str(tmp_path), image_size=16, channels=channels), "all"
    )
    assert len(dataset) == 9
    assert dataset.source.classes == ["cats", "dogs"]
    assert sorted(labels_of(dataset).tolist()) == [-1] + [0] * 4 + [1] * 4
    for index in range(len(dataset)):
        image, label = dataset[index]
        assert image.shape == (channels, 16, 16) and image.dtype == torch.uint8
        path = dataset.source.files[index]
        assert label == {"cats": 0, "dogs": 1}.get(path.parent.name, -1)
        if path.name == "grey.jpg":
            expected = torch.full_like(image, SOLID_L)  # L -> RGB copies the grey level
        else:
            expected = torch.tensor(SOLID_RGB if channels == 3 else (SOLID_L,), dtype=torch.uint8)
            expected = expected.view(-1, 1, 1).expand_as(image)
        assert (image.int() - expected.int()).abs().max() <= 1, path.name  # JPEG rounding


def test_flat_folder_is_unlabelled(tmp_path: Path) -> None:
    write_mixed_images(tmp_path)
    dataset = load_split(data_config(tmp_path, "folder", path=str(tmp_path), image_size=8), "all")
    assert len(dataset) == 4 and labels_of(dataset).tolist() == [-1] * 4
    assert num_classes_of(dataset) == 0


def test_corrupt_image_is_skipped_with_a_warning_naming_it(tmp_path: Path) -> None:
    write_mixed_images(tmp_path)
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, batch_size=2)
    dataset = load_split(config, "all")
    index = dataset.source.files.index(corrupt)
    with pytest.warns(UserWarning, match="broken.png"):
        assert dataset[index] is None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loader = DataLoader(dataset, batch_size=2, collate_fn=collate_skipping_unreadable)
        seen = sum(len(images) for images, _ in loader)
        datamodule = SimCLRDataModule(config)
        epoch = list(datamodule.train_dataloader())
    assert seen == 4  # the five files less the corrupt one
    assert len(epoch) == 2 and all(images.dtype == torch.uint8 for images, _ in epoch)


def test_a_decompression_bomb_is_skipped_with_a_warning(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    write_mixed_images(tmp_path)
    Image.new("L", (300, 300)).save(tmp_path / "bomb.png")
    # more than twice PIL's pixel limit: PIL raises DecompressionBombError rather than decode
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 300 // 3)
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, batch_size=2)
    dataset = load_split(config, "all")
    bomb = dataset.source.files.index(tmp_path / "bomb.png")
    with pytest.warns(UserWarning, match="bomb.png"):
        assert dataset[bomb] is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loader = DataLoader(dataset, batch_size=2, collate_fn=collate_skipping_unreadable)
        assert sum(len(images) for images, _ in loader) == 4  # the other files all decode


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a directory"):
        load_split(data_config(tmp_path, "folder", path=str(tmp_path / "absent")), "all")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no images"):
        load_split(data_config(tmp_path, "folder", path=str(tmp_path)), "all")


def test_batch_larger_than_the_dataset_is_one_line(tmp_path: Path) -> None:
    write_mixed_images(tmp_path)
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, batch_size=5)
    with pytest.raises(DataError, match="data.batch_size=5 exceeds the 4 training images") as error:
        SimCLRDataModule(config).setup()
    assert "\n" not in str(error.value)


# ----------------------------------------------------------------------------- Fashion-MNIST


def first_idx_image(path: Path) -> torch.Tensor:
    """The first 28 x 28 image of an IDX3 file, read from the bytes after its 16-byte header."""
    with gzip.open(path) as infile:
        data = infile.read(16 + 28 * 28)
    return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).view(1, 28, 28)


def test_fashion_mnist_from_the_system_dir(fashion_mnist_root: Path) -> None:
    config = data_config(fashion_mnist_root, "fashion_mnist", image_size=28)
    train, test = load_split(config, "train"), load_split(config, "test")
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
    assert sorted(set(labels_of(train).tolist())) == list(range(10))
    assert num_classes_of(train) == 10 and len(train.classes) == 10
    assert torch.bincount(labels_of(test)).tolist() == [1000] * 10


def test_fashion_mnist_subset_and_data_module(fashion_mnist_root: Path) -> None:
    config = data_config(
        fashion_mnist_root,
        "fashion_mnist",
        image_size=16,
        subset=0.01,
        val_subset=50,
        batch_size=32,
    )
    datamodule = SimCLRDataModule(config, seed=3)
    datamodule.setup()
    assert (len(datamodule.train_set), len(datamodule.val_set)) == (600, 50)
    assert datamodule.num_classes == 10
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (32, 1, 16, 16) and images.dtype == torch.uint8
    assert labels.shape == (32,)


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


def test_subset_picks_those_images_and_labels(cifar10_root) -> None:
    root, images, labels = cifar10_root
    dataset = load_split(data_config(root, "cifar10", image_size=32), "train", subset=4, seed=9)
    indices = subset_indices(10, 4, seed=9)
    assert torch.equal(images_of(dataset), torch.from_numpy(images[indices]))
    assert labels_of(dataset).tolist() == labels[indices].tolist()


def test_in_memory_split_is_prepared_at_once_as_image_by_image(cifar10_root) -> None:
    root, images, _ = cifar10_root
    for size, channels in [(20, 1), (40, 3), (32, 1)]:
        config = data_config(root, "cifar10", image_size=size, channels=channels)
        dataset = load_split(config, "train")
        expected = [prepare_image(torch.from_numpy(image), size, channels) for image in images]
        assert isinstance(dataset, ArrayImages)
        assert torch.equal(dataset.images, torch.stack(expected[:10]))


def test_in_memory_batches_are_one_gather_equal_to_image_by_image(cifar10_root) -> None:
    root, images, labels = cifar10_root
    dataset = load_split(data_config(root, "cifar10", image_size=32), "train")
    batch = dataset.__getitems__([7, 2, 2, 9])
    assert torch.equal(batch.images, torch.stack([dataset[i][0] for i in [7, 2, 2, 9]]))
    assert batch.labels.tolist() == [dataset[i][1] for i in [7, 2, 2, 9]]
    loader = DataLoader(dataset, batch_size=4, collate_fn=collate_skipping_unreadable)
    batches = list(loader)
    assert [len(images) for images, _ in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([b[0] for b in batches]), torch.from_numpy(images[:10]))
    assert torch.cat([b[1] for b in batches]).tolist() == labels[:10].tolist()


def test_auto_workers_none_in_memory_and_one_per_core_for_files(cifar10_root, tmp_path) -> None:
    root, _, _ = cifar10_root
    in_memory = load_split(data_config(root, "cifar10"), "test")
    write_mixed_images(tmp_path / "images")
    files = load_split(data_config(tmp_path, "folder", path=str(tmp_path / "images")), "all")
    assert isinstance(files, PreparedImages)
    cores = len(os.sched_getaffinity(0))
    assert loader_workers(None, in_memory) == 0
    assert loader_workers(None, files) == min(8, cores) >= 1
    assert loader_workers(3, in_memory) == loader_workers(3, files) == 3


# ----------------------------------------------------------------------------- helpers


def test_prepare_image_converts_channels_and_crops_the_centre() -> None:
    grey = torch.arange(40 * 20, dtype=torch.uint8).view(1, 40, 20)  # 40 tall, 20 wide
    assert torch.equal(prepare_image(grey, 20, 3), grey.expand(3, 40, 20)[:, 10:30])
    rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 8, 8)
    assert prepare_image(rgb, 8, 1).unique().tolist() == [76]  # 0.299 * 255
    assert prepare_image(grey, 10, 1).shape == (1, 10, 10)


@pytest.mark.parametrize(
    "name, channels, mean",
    [
        ("fashion_mnist", None, [0.2860]),
        ("fashion_mnist", 3, [0.2860] * 3),
        ("cifar10", None, [0.4914, 0.4822, 0.4465]),
        ("cifar10", 1, [(0.4914 + 0.4822 + 0.4465) / 3]),
    ],
)
def test_normalization_fits_the_channel_count(name: str, channels, mean: list) -> None:
    got_mean, got_std = normalization(DataConfig(name=name, channels=channels))
    assert got_mean == pytest.approx(mean)
    assert len(got_std) == len(mean)
    explicit = normalization(DataConfig(name=name, channels=channels), [0.5], [0.5])
    assert explicit == ([0.5] * len(mean), [0.5] * len(mean))


def test_a_cifar_batch_that_would_run_code_is_refused(cifar10_root, tmp_path: Path) -> None:
    import os

    root, _, _ = cifar10_root
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    batch = root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({"data": Payload(), "labels": [1]}))
    with pytest.raises(DataError, match="test_batch is refused: it asks for") as error:
        load_split(data_config(root, "cifar10", image_size=32), "test")
    assert "\n" not in str(error.value) and not marker.exists()
    pickle.loads(batch.read_bytes())  # the same bytes do run code under plain pickle
    assert marker.exists()
