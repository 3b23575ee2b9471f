"""Whether a dataset file on disk is the official one: its md5 against torchvision's list.

torchvision lists the md5 of every file of CIFAR-10, CIFAR-100 and STL-10 as the official
archives unpack them. The readers check each file they are about to read, so a truncated or
altered copy is refused at once, in one line naming the file, rather than failing later far from
its cause. Only the files a split reads are hashed: STL-10's test split is 2 files (28 MB), where
torchvision's STL10 hashes all five (2.6 GB) on every construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import torchvision

from simclr.errors import DataError


def _listed_md5(cls: type) -> dict[str, str]:
    files = dict(cls.train_list + cls.test_list)
    meta = getattr(cls, "meta", None)  # CIFAR's class names
    if meta is not None:
        files[meta["filename"]] = meta["md5"]
    return files


# a dataset's folder under data.root -> {file name: md5 of the official file}
OFFICIAL_MD5: dict[str, dict[str, str]] = {
    cls.base_folder: _listed_md5(cls)
    for cls in (
        torchvision.datasets.CIFAR10,
        torchvision.datasets.CIFAR100,
        torchvision.datasets.STL10,
    )
}


def md5_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """The hex md5 of the file at ``path``, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def altered_files(paths: Iterable[Path]) -> dict[Path, str]:
    """{path: its md5} of the files among ``paths`` (all present) whose md5 is not the official
    one listed for their folder and name; empty when every file is official."""
    altered = {}
    for path in paths:
        md5 = md5_of(path)
        if md5 != OFFICIAL_MD5.get(path.parent.name, {}).get(path.name):
            altered[path] = md5
    return altered


def altered_file_error(name: str, path: Path, md5: str) -> DataError:
    """The one-line error for a file of dataset ``name`` that is not the official one."""
    return DataError(
        f"{name} file {path} is truncated or altered ({path.stat().st_size:,} bytes, md5 {md5} "
        "is not the official one): delete it and run with data.download=true to download it again"
    )
