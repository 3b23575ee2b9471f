"""Runs stopped or watched as a person or a scheduler would: ``simclr pretrain`` as a separate
process (the command of a tiny Fashion-MNIST run, waiting for a line of its output), and a
Ctrl-C sent from inside a run at a chosen step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback

ROOT = Path(__file__).resolve().parents[2]  # the repository
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"}


def pretrain_command(out_dir: Path, data_root: Path, *overrides: str) -> list[str]:
    """A run of 32-image batches of Fashion-MNIST (``data.subset`` sets the steps an epoch)."""
    return [
        sys.executable,
        "-m",
        "simclr.cli",
        "pretrain",
        f"data.root={data_root}",
        "data.download=false",
        "data.val_subset=32",
        "data.batch_size=32",
        "data.num_workers=0",
        "encoder.stem=standard",
        "trainer.accelerator=cpu",
        f"run.out_dir={out_dir}",
        "run.name=run",
        *overrides,
    ]


def start(command: list[str], out: Path, err: Path) -> subprocess.Popen:
    """``command`` started with its stdout and stderr written to ``out`` and ``err``."""
    with open(out, "w") as stdout, open(err, "w") as stderr:
        return subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=stdout, stderr=stderr)


def wait_for(path: Path, text: str, process: subprocess.Popen, timeout: float = 300) -> None:
    """Until ``text`` is in ``path`` (the process's output); fails if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.is_file() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}: {path.read_text()[-2000:]}")


def run(command: list[str]) -> str:
    """stdout and stderr of ``command`` run to its end (it must succeed)."""
    done = subprocess.run(
        command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600, check=True
    )
    return done.stdout + done.stderr


class CtrlCAtStep(Callback):
    """Sends this process SIGINT (a person's Ctrl-C) once ``step`` optimizer steps are done."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)
