"""simclr/data/checksums.py: official files known by their md5, against hashlib and by hand."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from simclr.data.checksums import OFFICIAL_MD5, altered_file_error, altered_files, md5_of


def test_md5_in_chunks_is_hashlibs_md5_of_the_whole_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one chunk of 1 MiB
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert md5_of(path) == hashlib.md5(data).hexdigest()
    assert md5_of(path, chunk_size=7) == hashlib.md5(data).hexdigest()


def test_the_official_list_is_torchvisions() -> None:
    """The md5s torchvision publishes, by folder: CIFAR-10's first batch, its meta, STL-10."""
    cifar10 = OFFICIAL_MD5["cifar-10-batches-py"]
    assert cifar10["data_batch_1"] == "c99cafc152244af753f735de768cd75f"
    assert cifar10["batches.meta"] == "5ff9c542aee3614f3951f8cda6e48888"
    assert set(OFFICIAL_MD5) == {"cifar-10-batches-py", "cifar-100-python", "stl10_binary"}
    assert "train_X.bin" in OFFICIAL_MD5["stl10_binary"]


def test_a_file_is_altered_unless_its_md5_is_the_listed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    good, bad, unknown = folder / "data_batch_1", folder / "data_batch_2", folder / "extra"
    for path, text in ((good, b"good"), (bad, b"bad"), (unknown, b"x")):
        path.write_bytes(text)
    listed = {"data_batch_1": hashlib.md5(b"good").hexdigest(), "data_batch_2": "0" * 32}
    monkeypatch.setitem(OFFICIAL_MD5, "cifar-10-batches-py", listed)
    altered = altered_files([good, bad, unknown])
    assert altered == {bad: hashlib.md5(b"bad").hexdigest(), unknown: hashlib.md5(b"x").hexdigest()}


def test_the_error_is_one_line_naming_the_file_its_size_and_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"1234")
    message = str(altered_file_error("cifar10", path, "abc"))
    assert "\n" not in message
    assert str(path) in message and "4 bytes" in message and "md5 abc" in message
    assert "data.download=true" in message
