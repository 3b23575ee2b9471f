"""``simclr clean RUN``: remove what a run directory caches, never what it produced.

Removed: the feature caches and the cached probe results (everything in ``RUN/features/``), the
outputs of a former encoder (everything in ``RUN/stale/``: eval.json, index/, embeddings/,
finetune/ moved there when a resumed run replaced ``encoder.pt``) and, when asked, the
per-epoch checkpoints (``RUN/checkpoints/`` but ``last.ckpt`` and ``best.ckpt``; ``best.ckpt``
only when asked for it too). Kept: the encoder (encoder.pt, encoder.yaml), config.yaml,
summary.json, checkpoints/last.ckpt, the current eval.json and every other file. A symbolic link
is removed as a link, its target left alone, and an entry a running process is still writing
(``NAME.partial-PID``, ``.NAME.tmp-PID``) is left to it.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from simclr.errors import ConfigError
from simclr.run.atomic import process_running

CACHE_FOLDERS = ("features", "stale")
CHECKPOINTS, LAST_CHECKPOINT = "checkpoints", "last.ckpt"
BEST_CHECKPOINT = "best.ckpt"  # the highest online-probe accuracy: removed only with best=True
# what the run produced: never removed, whatever a folder above holds
KEPT = (
    "encoder.pt",
    "encoder.yaml",
    "config.yaml",
    "summary.json",
    "eval.json",
    f"{CHECKPOINTS}/{LAST_CHECKPOINT}",
)
BEING_WRITTEN = re.compile(r"\.(?:partial|tmp)-(\d+)$")  # the marks of simclr.run.atomic's writers


@dataclass(frozen=True)
class Entry:
    """A file or folder of the run directory and the bytes it holds."""

    path: Path
    size: int


@dataclass
class Cleaning:
    """What ``simclr clean`` removes (or would), what it leaves to a running writer, and the
    per-epoch checkpoints it keeps unless asked."""

    run_dir: Path
    removed: list[Entry]
    in_use: list[Entry]
    checkpoints_kept: list[Entry]
    dry_run: bool
    best_kept: Entry | None = None

    @property
    def freed(self) -> int:
        return sum(entry.size for entry in self.removed)


def clean_run(
    run_dir: str | Path, checkpoints: bool = False, dry_run: bool = False, best: bool = False
) -> Cleaning:
    """Remove the caches of ``run_dir`` (the per-epoch checkpoints too with ``checkpoints``,
    ``best.ckpt`` too with ``best``); with ``dry_run`` only say what would go. A path without
    config.yaml is refused."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"RUN {run} is not a directory: give a run directory of simclr pretrain")
    if not (run / "config.yaml").is_file():
        raise ConfigError(
            f"RUN {run} is not a run directory (no config.yaml in it): give a directory that "
            "simclr pretrain wrote"
        )
    caches = [path for folder in CACHE_FOLDERS for path in _entries(run / folder)]
    epochs = [p for p in _entries(run / CHECKPOINTS) if p.name != LAST_CHECKPOINT]
    best_path = run / CHECKPOINTS / BEST_CHECKPOINT
    if not best:
        epochs = [path for path in epochs if path != best_path]
    candidates = caches + epochs if checkpoints else caches
    removed, in_use = [], []
    for path in candidates:
        if path.relative_to(run).as_posix() in KEPT:
            continue
        entry = Entry(path, size_of(path))
        (in_use if _being_written(path) else removed).append(entry)
    if not dry_run:
        for entry in removed:
            _remove(entry.path)
    kept = [] if checkpoints else [Entry(path, size_of(path)) for path in epochs]
    best_kept = None
    if not best and best_path in _entries(run / CHECKPOINTS):
        best_kept = Entry(best_path, size_of(best_path))
    return Cleaning(run, removed, in_use, kept, dry_run, best_kept)


def _entries(folder: Path) -> list[Path]:
    """The entries of ``folder``; none when it is absent or a link (its target is not ours)."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    return sorted(folder.iterdir())


def _being_written(path: Path) -> bool:
    match = BEING_WRITTEN.search(path.name)
    return match is not None and process_running(int(match.group(1)))


def size_of(path: Path) -> int:
    """The bytes of a file, or of every file below a folder; links count as themselves."""
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):  # os.walk does not follow links to folders
        total += sum((Path(folder) / name).lstat().st_size for name in files)
    return total


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def human_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``487.2 MiB``, ``3.0 GiB``."""
    value, unit = float(size), "B"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def counted(count: int, thing: str, things: str) -> str:
    return f"{count} {thing if count == 1 else things}"


def report_lines(cleaning: Cleaning) -> list[str]:
    """What ``simclr clean`` prints: each entry with its size, then the total."""
    run = cleaning.run_dir
    verb = "would remove" if cleaning.dry_run else "removed"
    lines = [f"{verb} {e.path.relative_to(run)} ({human_size(e.size)})" for e in cleaning.removed]
    lines += [
        f"left {e.path.relative_to(run)} ({human_size(e.size)}): a running process writes it"
        for e in cleaning.in_use
    ]
    kept = cleaning.checkpoints_kept
    if kept:
        size = human_size(sum(e.size for e in kept))
        what = counted(len(kept), "per-epoch checkpoint", "per-epoch checkpoints")
        lines.append(
            f"kept {what} ({size}): --checkpoints removes {'it' if len(kept) == 1 else 'them'}"
        )
    best = cleaning.best_kept
    if best is not None:
        lines.append(
            f"kept {best.path.relative_to(run)} ({human_size(best.size)}), the checkpoint of the "
            "best probe accuracy: --best removes it"
        )
    entries = counted(len(cleaning.removed), "entry", "entries")
    if not cleaning.removed:
        lines.append(f"nothing to remove in {run}")
    elif cleaning.dry_run:
        freed = human_size(cleaning.freed)
        lines.append(f"would free {freed} ({entries}) in {run}; nothing was removed (--dry-run)")
    else:
        lines.append(f"freed {human_size(cleaning.freed)} ({entries}) in {run}")
    return lines
