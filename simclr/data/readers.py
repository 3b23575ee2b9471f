"""Readers of the datasets' official formats, each returning one split as a dataset class.

Every reader takes the split's name and keyword arguments (``root``, ``download``, ``path``,
``channels``, ``val_fraction``), so the registry can name it without knowing the config.
Torchvision reads the formats and downloads them (checking the archive's md5); what torchvision
does not do safely (CIFAR's pickle batches) is done here. A CIFAR or STL-10 file is read only
once its md5 is the official one (simclr/data/checksums.py); Debian's Fashion-MNIST files are
trusted as installed.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.datasets.utils import download_and_extract_archive, extract_archive

from simclr.data.checksums import altered_file_error, altered_files
from simclr.data.folders import WHOLE_FOLDER, held_out_split, split_folders
from simclr.data.images import ArrayImages, ImageFolder, LabelledSubset
from simclr.data.plain_pickle import UnsafePickle, load_plain_pickle
from simclr.errors import DataError

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

# (split, *, root, download, path, channels, val_fraction)
Reader = Callable[..., ArrayImages | ImageFolder | LabelledSubset]


def _checked_by_the_reader(cls: type) -> type:
    """A torchvision dataset class that skips its own md5 check of all its files: the reader has
    checked the files of the split it reads against the same md5s (see :func:`_official_files`).
    """
    return type(cls.__name__, (cls,), {"_check_integrity": lambda self: True})


_STL10 = _checked_by_the_reader(torchvision.datasets.STL10)
_STL10_FILES = {  # the files each split reads
    "train": ("train_X.bin", "train_y.bin"),
    "test": ("test_X.bin", "test_y.bin"),
    "unlabeled": ("unlabeled_X.bin",),
    "train+unlabeled": ("train_X.bin", "train_y.bin", "unlabeled_X.bin"),
}


def _torchvision_error(name: str, root: str, error: Exception) -> DataError:
    message = str(error).splitlines()[0]
    return DataError(f"cannot read {name} under data.root={root!r}: {message}")


def _official_files(name: str, cls: type, root: str, files: Sequence[str], download: bool) -> Path:
    """The folder of torchvision's ``cls`` under ``root`` once each of ``files`` in it is the
    official file (its md5); with ``download``, missing or altered files are downloaded again by
    torchvision, which checks the archive's md5. Otherwise a one-line DataError names the file.
    """
    folder = Path(root) / cls.base_folder
    paths = [folder / file for file in files]
    missing = [path.name for path in paths if not path.is_file()]
    altered = {} if missing else altered_files(paths)
    if download and (missing or altered):
        try:
            download_and_extract_archive(cls.url, root, None, cls.filename, cls.tgz_md5)
        except (RuntimeError, OSError) as error:
            message = str(error).splitlines()[0]
            archive = Path(root) / cls.filename
            raise DataError(f"cannot download {name} to {archive}: {message}") from None
        missing = [path.name for path in paths if not path.is_file()]
        altered = {} if missing else altered_files(paths)
    if missing:
        raise DataError(
            f"cannot read {name} under data.root={root!r}: {folder} lacks {', '.join(missing)}"
            + ("" if download else " (data.download=false)")
        )
    if altered:
        raise altered_file_error(name, *next(iter(altered.items())))
    return folder


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
        names = [file for file, _ in (cls.train_list if split == "train" else cls.test_list)]
        meta = cls.meta["filename"]  # the class names
        folder = _official_files(name, cls, root, [*names, meta], download)
        batches = [_plain_pickle(folder / file, name) for file in names]
        labels = [label for b in batches for label in b.get("labels", b.get("fine_labels", []))]
        images = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
        classes = _plain_pickle(folder / meta, name)[cls.meta["key"]]
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
    if split not in _STL10_FILES:
        raise DataError(f"split {split!r} of stl10 is unknown: allowed: {', '.join(_STL10_FILES)}")
    _official_files("stl10", _STL10, root, _STL10_FILES[split], download)
    try:
        dataset = _STL10(root, split=split, download=False)
    except (RuntimeError, OSError) as error:
        raise _torchvision_error("stl10", root, error) from None
    images = torch.from_numpy(np.ascontiguousarray(dataset.data))
    return ArrayImages(images, torch.from_numpy(dataset.labels.astype(np.int64)), dataset.classes)


def read_folder(
    split: str, *, path: str, channels: int, val_fraction: float | None = None, **_: object
) -> ImageFolder | LabelledSubset:
    """A split of the image folder at ``path`` (see :mod:`simclr.data.folders`): ``all`` is every
    image below it; another split is its subfolder or, for a folder without split subfolders,
    the part of ``all`` that ``val_fraction`` gives it."""
    if split == WHOLE_FOLDER or split in split_folders(path):
        return ImageFolder(Path(path) if split == WHOLE_FOLDER else Path(path) / split, channels)
    if val_fraction is None or split not in ("train", "val"):
        raise DataError(f"data.path={path!r} has no split {split!r}")
    folder = ImageFolder(path, channels=channels)
    train, val = held_out_split(folder.labels, val_fraction)
    return LabelledSubset(folder, train if split == "train" else val)
