"""Readers of the datasets' official formats, each returning one split as a dataset class.

Every reader takes the split's name and keyword arguments (``root``, ``download``, ``path``,
``channels``), so the registry can name it without knowing the config. Torchvision reads the
formats; what torchvision does not do safely (CIFAR's pickle batches) is done here.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.datasets.utils import download_and_extract_archive, extract_archive

from simclr.data.images import ArrayImages, ImageFolder
from simclr.errors import DataError
from simclr.plain_pickle import UnsafePickle, load_plain_pickle

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

Reader = Callable[..., ArrayImages | ImageFolder]  # (split, *, root, download, path, channels)


def _trusting_files_on_disk(cls: type) -> type:
    """A torchvision dataset class that accepts its files when they are present.

    torchvision checks every file against the md5 of the official archive; re-packed copies and
    the small files the tests write in the same format would be refused. Downloading still
    happens when a file is missing.
    """

    def files_present(self) -> bool:
        names = [name for name, _ in self.train_list + self.test_list]
        return all(os.path.isfile(os.path.join(self.root, self.base_folder, n)) for n in names)

    return type(cls.__name__, (cls,), {"_check_integrity": files_present})


_STL10 = _trusting_files_on_disk(torchvision.datasets.STL10)


def _torchvision_error(name: str, root: str, error: Exception) -> DataError:
    message = str(error).splitlines()[0]
    return DataError(f"cannot read {name} under data.root={root!r}: {message}")


def read_fashion_mnist(split: str, *, root: str, download: bool, **_: object) -> ArrayImages:
    """Fashion-MNIST; the IDX files of Debian's ``dataset-fashion-mnist`` are used when present."""
    raw = Path(root) / "FashionMNIST" / "raw"
    if FASHION_MNIST_SYSTEM_DIR.is_dir():
        raw.mkdir(parents=True, exist_ok=True)
        for archive in FASHION_MNIST_SYSTEM_DIR.glob("*-ubyte.gz"):
            target = raw / archive.name.removesuffix(".gz")
            if not target.exists():
                # each process of a multi-device run extracts on its own; a rename is atomic,
                # so no process reads another's half-written file
                partial = raw / f".extract-{os.getpid()}"
                partial.mkdir(exist_ok=True)
                extract_archive(str(archive), str(partial))
                os.replace(partial / target.name, target)
                shutil.rmtree(partial, ignore_errors=True)
    try:
        dataset = torchvision.datasets.FashionMNIST(root, train=split == "train", download=download)
    except (RuntimeError, OSError) as error:
        raise _torchvision_error("fashion_mnist", root, error) from None
    return ArrayImages(dataset.data.unsqueeze(1), dataset.targets, dataset.classes)


def cifar_reader(cls: type, name: str) -> Reader:
    """The reader of torchvision's CIFAR class ``cls`` (CIFAR10 or CIFAR100)."""

    def read(split: str, *, root: str, download: bool, **_: object) -> ArrayImages:
        folder = Path(root) / cls.base_folder
        names = [file for file, _ in (cls.train_list if split == "train" else cls.test_list)]
        if not all((folder / file).is_file() for file in names):
            if not download:
                raise DataError(
                    f"cannot read {name} under data.root={root!r}: {folder} lacks "
                    f"{', '.join(names)} (data.download=false)"
                )
            try:  # torchvision checks the archive's md5
                download_and_extract_archive(cls.url, root, None, cls.filename, cls.tgz_md5)
            except (RuntimeError, OSError) as error:
                raise _torchvision_error(name, root, error) from None
        batches = [_plain_pickle(folder / file, name) for file in names]
        labels = [label for b in batches for label in b.get("labels", b.get("fine_labels", []))]
        images = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
        meta = folder / cls.meta["filename"]
        classes = _plain_pickle(meta, name)[cls.meta["key"]] if meta.is_file() else []
        return ArrayImages(torch.from_numpy(images.copy()), torch.tensor(labels), classes)

    read.__doc__ = f"{name} from its official python-pickle batches, read without running code."
    return read


def _plain_pickle(path: Path, name: str) -> dict:
    try:
        return load_plain_pickle(path)
    except UnsafePickle as error:
        raise DataError(f"{name} file {path} is refused: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as error:
        raise DataError(f"{name} file {path} is not readable ({type(error).__name__})") from None


def read_stl10(split: str, *, root: str, download: bool, **_: object) -> ArrayImages:
    """STL-10 binary files; ``train+unlabeled`` adds the 100,000 unlabelled images (label -1)."""
    try:
        dataset = _STL10(root, split=split, download=download)
    except (RuntimeError, OSError) as error:
        raise _torchvision_error("stl10", root, error) from None
    images = torch.from_numpy(np.ascontiguousarray(dataset.data))
    return ArrayImages(images, torch.from_numpy(dataset.labels.astype(np.int64)), dataset.classes)


def read_folder(split: str, *, path: str, channels: int, **_: object) -> ImageFolder:
    """All images under ``path`` (one split: the folder itself)."""
    return ImageFolder(path, channels=channels)
