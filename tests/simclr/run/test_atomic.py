"""Files that are either whole or absent (simclr/run/atomic.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from simclr.run.atomic import atomic_write, remove_stale_temporaries, sha256_of, temporary_name


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_bytes(b"old")
    atomic_write(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    assert temporary_name(path) == tmp_path / f".summary.json.tmp-{os.getpid()}"


def test_only_the_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid names no running process now
    stale_file = tmp_path / f".encoder.pt.tmp-{dead.pid}"
    stale_file.write_bytes(b"half")
    stale_folder = tmp_path / f".extract.tmp-{dead.pid}"
    stale_folder.mkdir()
    (stale_folder / "part").write_bytes(b"half")
    live = temporary_name(tmp_path / "config.yaml")  # this process is still writing it
    live.write_bytes(b"being written")
    kept = tmp_path / "encoder.pt"
    kept.write_bytes(b"whole")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_folder])
    assert sorted(tmp_path.iterdir()) == sorted([live, kept])


def test_sha256_of_reads_in_chunks_to_the_same_digest(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    (tmp_path / "blob").write_bytes(data)
    assert sha256_of(tmp_path / "blob", chunk=999) == hashlib.sha256(data).hexdigest()
