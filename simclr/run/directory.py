"""One run directory for every process of a run, claimed once.

The run directory is claimed once, by global rank 0, with an exclusive create, so of two jobs
with the same ``run.name`` exactly one proceeds. Rank 0 hands a generated (timestamp) name to the
copies it launches through the environment; processes started by an external launcher need a
name that every one of them computes alike: ``run.name``, or the launcher's job id.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from simclr.config.schema import RunConfig
from simclr.errors import ConfigError
from simclr.run.launch import (
    RUN_NAME_ENV,
    is_global_rank_zero,
    job_id,
    slurm_job,
    slurm_restarts,
    started_by_external_launcher,
)

OWNER_FILE = "owner.json"  # created exclusively by the job that owns the run directory


@dataclass(frozen=True)
class RunDirectory:
    """Where this run writes, and whether this process is the one that writes run-level files."""

    path: Path
    writer: bool  # global rank 0: config.yaml, summary.json, encoder.pt
    new: bool  # a new run, not a resumed one
    requeued: bool = False  # SLURM started this job again: it continues its own run

    def claim(self) -> None:
        """Global rank 0 of a new run makes the directory this job's (see :func:`claim`)."""
        if self.writer and self.new:
            claim(self.path)


def run_directory(run: RunConfig, resume_dir: str | Path | None = None) -> RunDirectory:
    """The directory every process of this job agrees on (nothing is written yet)."""
    writer = is_global_rank_zero()
    if resume_dir is not None:
        return RunDirectory(Path(resume_dir), writer, new=False)
    handed_down = None if writer else os.environ.get(RUN_NAME_ENV)
    name = run.name or handed_down or _generated_name()
    if writer and run.name is None:
        os.environ[RUN_NAME_ENV] = name  # for the copies Lightning's ddp launcher starts
    path = Path(run.out_dir) / name
    if requeued_here(path):
        return RunDirectory(path, writer, new=False, requeued=True)
    return RunDirectory(path, writer, new=True)


def requeued_here(path: Path) -> bool:
    """Whether SLURM requeued the job that started the run in ``path`` and this is that job."""
    job = slurm_job()
    if job is None or slurm_restarts() == 0:
        return False
    try:
        owner = json.loads((path / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return owner.get("slurm_job") == job


def _generated_name() -> str:
    if not started_by_external_launcher():
        return datetime.now().strftime("%Y%m%d-%H%M%S")
    name = job_id()
    if name is None:
        raise ConfigError(
            "run.name=None: processes started by torchrun must agree on a run directory: set "
            "run.name=NAME (or pass torchrun --rdzv-id)"
        )
    return name


def claim(path: Path) -> None:
    """Make ``path`` this job's run directory, or refuse it (one line) if another run has it.

    The exclusive create of ``owner.json`` decides between two jobs started together.
    """
    refusal = ConfigError(
        f"run.name={path.name!r}: {path} already holds a run; resume it with "
        f"'simclr pretrain --resume {path}' or choose another run.name"
    )
    if (path / "config.yaml").exists() or (path / "checkpoints").exists():
        raise refusal
    path.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path / OWNER_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise refusal from None
    owner = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.now().isoformat(timespec="seconds"),
        "slurm_job": slurm_job(),  # a requeued job finds its run by it
    }
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(owner) + "\n")
