"""Outputs computed from a run's encoder, set aside when a resumed run replaces the encoder.

``simclr eval``, ``index``, ``embed`` and ``finetune`` write into the run directory results that
hold only for the encoder they read (each records its fingerprint). A resumed run exports a new
``encoder.pt``; the former encoder's results move to ``stale/stepN/`` (N: the step that encoder
was exported at), so nothing in the run directory describes an encoder it no longer holds.
``simclr clean RUN`` deletes them. The feature cache stays: its key holds the encoder's
fingerprint, so it never serves features of another encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

DERIVED = ("eval.json", "index", "embeddings", "finetune")  # what the evaluation commands write
STALE_DIR = "stale"


def set_aside_derived_outputs(run_dir: Path) -> Path | None:
    """Move the former encoder's results to ``stale/stepN/``; the folder, or None if none."""
    found = [run_dir / name for name in DERIVED if (run_dir / name).exists()]
    if not found:
        return None
    folder = run_dir / STALE_DIR / f"step{_exported_step(run_dir)}"
    suffix = 1
    while folder.exists():  # a step seen twice (a run cut back and extended again)
        folder = folder.with_name(f"{folder.name.split('-')[0]}-{suffix}")
        suffix += 1
    folder.mkdir(parents=True)
    for path in found:
        path.rename(folder / path.name)
    return folder


def _exported_step(run_dir: Path) -> str:
    """The step the former encoder was exported at (its summary.json), or 'unknown'; only a
    whole number becomes part of the folder's name (an altered one could name ../..)."""
    try:
        step = json.loads((run_dir / "summary.json").read_text())["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"
    return str(step) if isinstance(step, int) and not isinstance(step, bool) else "unknown"
