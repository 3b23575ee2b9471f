"""The path boundary (simclr/run/paths.py): paths to read and folders to write checked before any
work, names that are one path component, printable file names, OS errors in one line.

The tests run as root, where chmod does not make a folder read-only: a read-only folder is
emulated by patching ``os.access`` in the module (what the check asks), a full disk by patching
``shutil.disk_usage``."""

from __future__ import annotations

import errno
import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

import simclr.run.paths as paths
from simclr.errors import ConfigError
from simclr.run.paths import (
    PathError,
    check_file_to_read,
    check_file_to_write,
    check_folder_to_read,
    check_folder_to_write,
    check_free_space,
    check_name,
    os_error_line,
    printable,
)

Usage = namedtuple("Usage", "total used free")


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """``folder`` (and what is below it) refuses writes, as a read-only mount would."""
    real = os.access

    def access(path, mode, *args, **kwargs):
        inside = Path(path) == folder or folder in Path(path).parents
        return False if inside and mode & os.W_OK else real(path, mode, *args, **kwargs)

    monkeypatch.setattr(paths.os, "access", access)


def full_disk(monkeypatch: pytest.MonkeyPatch, free: int = 10) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 30, (1 << 30) - free, free))


def one_line(error: pytest.ExceptionInfo, *named: str) -> str:
    message = str(error.value)
    assert "\n" not in message and isinstance(error.value, ConfigError)
    for part in named:
        assert part in message, message
    return message


def test_a_folder_to_write_may_not_exist_yet_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert check_folder_to_write("run.out_dir", target) == target
    assert not (tmp_path / "a").exists()


def test_a_file_in_the_way_of_a_folder_to_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PathError) as error:
        check_folder_to_write("run.out_dir", tmp_path / "file")
    assert one_line(error) == f"run.out_dir {tmp_path / 'file'}: is a file, not a folder"


def test_a_file_as_a_parent_of_a_folder_to_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PathError) as error:
        check_folder_to_write("--out", tmp_path / "file" / "sub" / "dir")
    one_line(error, "--out", f"{tmp_path / 'file'} is a file, not a folder")


def test_a_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read_only(monkeypatch, tmp_path)
    with pytest.raises(PathError) as error:
        check_folder_to_write("--out", tmp_path / "new")
    one_line(error, "--out", "is not writable (permission denied)")
    with pytest.raises(PathError) as error:
        check_folder_to_write("--out", tmp_path)
    one_line(error, "--out", str(tmp_path), "is not writable")
    check_folder_to_write("data.root", tmp_path, writable=False)  # read, never written


def test_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full_disk(monkeypatch, free=100)
    check_folder_to_write("features.cache_dir", tmp_path / "cache", need_bytes=100)
    with pytest.raises(PathError) as error:
        check_folder_to_write("features.cache_dir", tmp_path / "cache", need_bytes=3 << 20)
    one_line(error, "features.cache_dir", "needs 3.0 MiB free", "100 B", "disk full")
    with pytest.raises(PathError):
        check_free_space("--out", tmp_path, 101)


def test_paths_to_read(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert check_file_to_read("--list", tmp_path / "file") == tmp_path / "file"
    assert check_folder_to_read("--index", tmp_path) == tmp_path
    cases = [
        (check_file_to_read, tmp_path / "none", "does not exist"),
        (check_file_to_read, tmp_path, "is a folder, not a file"),
        (check_folder_to_read, tmp_path / "file", "is a file, not a folder"),
        (check_folder_to_read, tmp_path / "file" / "x", f"{tmp_path / 'file'} is a file"),
    ]
    for check, path, what in cases:
        with pytest.raises(PathError) as error:
            check("--key", path)
        one_line(error, "--key", what)


def test_a_file_to_write(tmp_path: Path) -> None:
    assert check_file_to_write("--out", tmp_path / "new" / "map.png").name == "map.png"
    with pytest.raises(PathError) as error:
        check_file_to_write("--out", tmp_path)
    one_line(error, "is a folder, not a file")
    (tmp_path / "file").write_text("x")
    with pytest.raises(PathError) as error:
        check_file_to_write("--out", tmp_path / "file" / "map.png")
    one_line(error, "is a file, not a folder")


@pytest.mark.parametrize("name", ["", ".", "..", "../../x", "a/b", "a\x00b", "a\x1b[31mb", "a\nb"])
def test_a_name_is_one_path_component(name: str) -> None:
    with pytest.raises(PathError) as error:
        check_name("run.name", name)
    message = one_line(error, "run.name=", "must be one file name")
    assert "\x1b" not in message and "\x00" not in message


@pytest.mark.parametrize("name", ["base", "loss.temperature=0.5", "run-1", "é"])
def test_names_that_are_names(name: str) -> None:
    assert check_name("run.name", name) == name


def test_printable_escapes_control_characters_only() -> None:
    assert printable("cats/é 1.png") == "cats/é 1.png"
    assert printable("a\x1b[2Jb\nc\td") == "a\\x1b[2Jb\\nc\\td"


def test_an_os_error_is_one_line_with_the_path_and_the_errno_name() -> None:
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/eval.json")
    assert os_error_line(error) == "/runs/x/eval.json: No space left on device (ENOSPC)"
    assert os_error_line(OSError(errno.EACCES, "Permission denied")) == (
        "Permission denied (EACCES)"
    )
    renamed = OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b")
    assert os_error_line(renamed) == "/a -> /b: Invalid cross-device link (EXDEV)"
