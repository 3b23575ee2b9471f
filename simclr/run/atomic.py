"""Files that are either whole or absent: written under a temporary name, then renamed.

A kill during a write (a preempted job, a full disk) then leaves the previous file intact
instead of half of a new one. ``os.replace`` is atomic on POSIX file systems.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

TEMPORARY_MARK = ".tmp-"


def temporary_name(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place (hidden, per process)."""
    return path.with_name(f".{path.name}{TEMPORARY_MARK}{os.getpid()}")


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, then rename it into place."""
    path = Path(path)
    temporary = temporary_name(path)
    temporary.write_bytes(data)
    os.replace(temporary, path)


def remove_stale_temporaries(
    directory: str | Path, mark: str = TEMPORARY_MARK, keep: Callable[[Path], bool] | None = None
) -> list[Path]:
    """Delete what killed writes left in ``directory`` (files or folders named ``...<mark><pid>``
    whose process is gone), except those ``keep`` says to keep; what was removed. Another
    running writer's are left alone."""
    removed = []
    for path in Path(directory).glob(f"*{mark}*"):
        pid = path.name.rsplit(mark, 1)[-1]
        if keep is not None and keep(path):
            continue
        if pid.isdigit() and not process_running(int(pid)):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sha256_of(path: str | Path, chunk: int = 1 << 22) -> str:
    """The sha256 of a file's bytes, read in chunks (files larger than memory included)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
