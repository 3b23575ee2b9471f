"""Small files in each dataset's real format, written for the data tests."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simclr.config import DataConfig
from simclr.data.checksums import OFFICIAL_MD5, md5_of


def random_uint8(shape: tuple, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def pickle_to(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value))


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) -> the (N, 3072) rows of the pickle batches: R plane, G plane, B plane."""
    return images.reshape(len(images), 3 * 32 * 32)


def write_stl10_images(path: Path, images: np.ndarray) -> None:
    """STL-10's binary layout: each image's channels stored column-major (C, W, H)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tobytes())


@pytest.fixture
def register_checksums(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """``register_checksums(folder)``: the md5 of every file in ``folder`` becomes the official
    one for the readers (as if the small files were the real release), for this test only."""

    def register(folder: Path) -> None:
        files = {path.name: md5_of(path) for path in folder.iterdir() if path.is_file()}
        monkeypatch.setitem(OFFICIAL_MD5, folder.name, files)

    return register


@pytest.fixture
def data_config() -> Callable[..., DataConfig]:
    """``data_config(root, name, key=value, ...)``: an offline DataConfig without workers."""

    def make(root: Path, name: str, **values) -> DataConfig:
        return DataConfig(name=name, root=str(root), download=False, num_workers=0, **values)

    return make


@pytest.fixture
def cifar10_root(tmp_path: Path, register_checksums) -> tuple[Path, np.ndarray, np.ndarray]:
    """cifar-10-batches-py with 5 training batches of 2 images, a test batch of 3, and meta,
    their md5s registered as the official ones."""
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
    register_checksums(folder)
    return tmp_path, images, labels


@pytest.fixture
def cifar100_root(tmp_path: Path, register_checksums) -> tuple[Path, np.ndarray]:
    """cifar-100-python with 3 training and 2 test images, fine and coarse labels, and meta,
    their md5s registered as the official ones."""
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
    register_checksums(folder)
    return tmp_path, images


@pytest.fixture
def stl10_root(tmp_path: Path, register_checksums) -> tuple[Path, np.ndarray]:
    """stl10_binary with 3 train, 2 test and 4 unlabelled 96 x 96 images (not square-symmetric),
    their md5s registered as the official ones."""
    images = random_uint8((9, 3, 96, 96), seed=2)
    folder = tmp_path / "stl10_binary"
    write_stl10_images(folder / "train_X.bin", images[:3])
    (folder / "train_y.bin").write_bytes(bytes([1, 10, 4]))  # 1-based class numbers
    write_stl10_images(folder / "test_X.bin", images[3:5])
    (folder / "test_y.bin").write_bytes(bytes([2, 3]))
    write_stl10_images(folder / "unlabeled_X.bin", images[5:])
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    register_checksums(folder)
    return tmp_path, images


class MixedImages:
    """Four images of different sizes and colour modes (RGB, grey JPEG, RGBA, palette), all of
    one colour: ``rgb``, whose luma is ``grey``."""

    rgb = (200, 100, 50)
    grey = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)  # PIL's ITU-R 601-2 luma: 124
    count = 4

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (30, 20), self.rgb).save(folder / "rgb.png")
        Image.new("L", (40, 40), self.grey).save(folder / "grey.jpg", quality=100)
        Image.new("RGBA", (12, 50), (*self.rgb, 255)).save(folder / "rgba.png")
        palette = Image.new("P", (17, 17), 0)
        palette.putpalette([*self.rgb, *[0] * 765])  # colour 0 of the palette is rgb
        palette.save(folder / "palette.png")


@pytest.fixture
def mixed_images() -> MixedImages:
    """``mixed_images.write(folder)`` puts the four :class:`MixedImages` there."""
    return MixedImages()
