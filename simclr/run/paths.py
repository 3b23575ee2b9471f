"""The boundary every command meets its paths at: each is checked before any work.

A path to read must exist and be a file or a folder as the option needs; a folder to write must
be a folder or creatable (no file in the way, no file as a parent), writable, and hold the free
space needed where the size is known in advance. Names that become one path component (a run's
name, an ablation's name, a recorded step) are checked to be one. Each failure is a one-line
:class:`PathError` naming the option or key, the path and what is wrong. :func:`printable`
escapes what is printed from file names, :func:`os_error_line` is how the command root words an
OS error that still happens (a disk filling during a write).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

from simclr.errors import ConfigError, printable

__all__ = [
    "PathError",
    "check_folder_to_read",
    "check_file_to_read",
    "check_path_to_read",
    "check_folder_to_write",
    "check_file_to_write",
    "check_free_space",
    "check_pretrain_paths",
    "check_name",
    "printable",
    "os_error_line",
]


class PathError(ConfigError):
    """A path named by an option or key cannot be read or written as needed."""


def _fail(key: str, path: str | Path, what: str) -> PathError:
    return PathError(f"{key} {printable(str(path))}: {what}")


def check_path_to_read(key: str, path: str | Path) -> Path:
    """``path`` exists (a file or a folder)."""
    path = Path(path)
    if not path.exists():
        parent = _file_among_parents(path)
        if parent is not None:
            raise _fail(key, path, f"{printable(str(parent))} is a file, not a folder")
        raise _fail(key, path, "does not exist")
    if not os.access(path, os.R_OK):
        raise _fail(key, path, "cannot be read (permission denied)")
    return path


def check_file_to_read(key: str, path: str | Path) -> Path:
    """``path`` is a readable file."""
    path = check_path_to_read(key, path)
    if not path.is_file():
        raise _fail(key, path, "is a folder, not a file")
    return path


def check_folder_to_read(key: str, path: str | Path) -> Path:
    """``path`` is a readable folder."""
    path = check_path_to_read(key, path)
    if not path.is_dir():
        raise _fail(key, path, "is a file, not a folder")
    return path


def check_folder_to_write(
    key: str, path: str | Path, need_bytes: int = 0, writable: bool = True
) -> Path:
    """``path`` is a folder or can be created, is writable (unless ``writable`` is False) and
    has ``need_bytes`` free; nothing is created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise _fail(key, path, "is a file, not a folder")
    _check_writable(key, path, path, need_bytes, writable)
    return path


def check_file_to_write(key: str, path: str | Path, need_bytes: int = 0) -> Path:
    """``path`` is not a folder and its folder can be written (:func:`check_folder_to_write`)."""
    path = Path(path)
    if path.is_dir():
        raise _fail(key, path, "is a folder, not a file")
    _check_writable(key, path, path.parent, need_bytes, writable=True)
    return path


def _check_writable(key: str, shown: Path, folder: Path, need_bytes: int, writable: bool) -> None:
    """``folder`` (``shown`` in the message) is a folder or can be made, and written."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise _fail(key, shown, f"{printable(str(existing))} is a file, not a folder")
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == Path(os.path.abspath(shown)) else f"{printable(str(existing))} "
        raise _fail(key, shown, f"{where}is not writable (permission denied)")
    if need_bytes > 0:
        check_free_space(key, shown, need_bytes)


def check_pretrain_paths(config: Any, resumed: bool = False) -> None:
    """The paths of a pretraining config (:class:`simclr.config.SimCLRConfig`) before any work:
    ``run.name`` is one file name and ``run.out_dir`` a folder that can be written (a new run),
    ``data.root`` a folder (written when a dataset is downloaded), ``data.path`` a folder."""
    if not resumed:
        if config.run.name is not None:
            check_name("run.name", config.run.name)
        check_folder_to_write("run.out_dir", config.run.out_dir)
    if Path(config.data.root).exists():
        check_folder_to_read("data.root", config.data.root)
    else:
        check_folder_to_write("data.root", config.data.root)
    if config.data.path is not None:
        check_folder_to_read("data.path", config.data.path)


def free_bytes(path: str | Path) -> int:
    """The bytes free to this user on the file system that holds ``path`` (or would)."""
    return shutil.disk_usage(_nearest_existing(Path(path))).free


def check_free_space(key: str, path: str | Path, need_bytes: int) -> None:
    """The file system of ``path`` has ``need_bytes`` free: a full disk is one line, not a
    SIGBUS in a memory map or a file cut short."""
    free = free_bytes(path)
    if free < need_bytes:
        raise _fail(
            key, path, f"needs {_size(need_bytes)} free, the disk has {_size(free)} (disk full)"
        )


def check_name(key: str, value: object) -> str:
    """``value`` is one path component: not empty, not ``.`` or ``..``, no separator, no NUL or
    control character."""
    text = str(value)
    bad = (
        not text
        or text in (".", "..")
        or "/" in text
        or (os.sep != "/" and os.sep in text)
        or (os.altsep is not None and os.altsep in text)
        or any(not character.isprintable() for character in text)
    )
    if bad:
        raise PathError(
            f"{key}={text!r} is invalid: must be one file name (not empty, not . or "
            "..; no /, no control characters)"
        )
    return text


def os_error_line(error: OSError) -> str:
    """``PATH: strerror words (ENAME)`` for an OS error (``strerror (ENAME)`` without a path)."""
    words = error.strerror or str(error)
    name = errno.errorcode.get(error.errno, "") if error.errno is not None else ""
    line = f"{words} ({name})" if name else words
    names = [str(f) for f in (error.filename, error.filename2) if f is not None]
    if names:
        line = f"{' -> '.join(printable(n) for n in names)}: {line}"
    return line


def _nearest_existing(path: Path) -> Path:
    """``path`` or the closest of its parents that exists (a file or a folder)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _file_among_parents(path: Path) -> Path | None:
    existing = _nearest_existing(path)
    return existing if existing != Path(os.path.abspath(path)) and existing.is_file() else None


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
