"""A run stopped by its scheduler or by Ctrl-C leaves a checkpoint to resume from and says how.

Schedulers (SLURM, Kubernetes, every cloud) send SIGTERM some seconds before they kill a job;
a person presses Ctrl-C. Either way the step in progress is finished (a weight update cut in
half would be saved otherwise), every process agrees to stop after that same step,
``checkpoints/last.ckpt`` is written at once, and the run ends with
:class:`TrainingInterrupted`: the command prints how to resume and exits with 128 + the signal
number (143 for SIGTERM, 130 for SIGINT), so the scheduler does not take the job for finished.

The handlers only note the signal; the processes agree to stop at the end of a step (one
all-reduce of a flag per step), so a signal sent to one process or to all of them ends the job
alike. Lightning's own SIGTERM handler is replaced while training: it runs collectives inside
the handler and deadlocks when every process gets the signal. Under SLURM Lightning still
handles the requeue signal (SIGUSR1 with ``sbatch --signal``) by saving ``hpc_ckpt_N.ckpt``
and requeueing the job; the requeued job continues its run directory by itself
(:mod:`simclr.run.directory`).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from simclr.errors import SimCLRError

EXIT_CODES = {"SIGTERM": 128 + signal.SIGTERM, "SIGINT": 128 + signal.SIGINT}


class TrainingInterrupted(SimCLRError):
    """Training stopped on a signal after saving a checkpoint; ``exit_code`` is 128 + signal."""

    def __init__(self, message: str, signal_name: str, announce: bool = True) -> None:
        super().__init__(message)
        self.exit_code = EXIT_CODES[signal_name]
        self.announce = announce  # false on every process but global rank 0


class StopOnSignal(Callback):
    """Stop after the current step on SIGTERM or the first Ctrl-C, with ``last.ckpt`` saved.

    A second Ctrl-C stops at once (Lightning's KeyboardInterrupt handling, no checkpoint).
    """

    def __init__(self, last_checkpoint: Path) -> None:
        self.last_checkpoint = last_checkpoint
        self.requested: str | None = None
        self.saved_at: int | None = None
        self._previous: dict[int, Any] = {}
        self._announce = True

    # ------------------------------------------------------------------------- signals
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Replace Lightning's SIGTERM handler (it runs collectives inside the handler, which
        deadlock when every process of a job gets the signal, as under SLURM) and Python's
        Ctrl-C with handlers that only note the request; the stop is agreed at the step's end."""
        if threading.current_thread() is not threading.main_thread():  # only it may set them
            return
        self._announce = trainer.is_global_zero
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None:
            if signum == signal.SIGINT:  # the second Ctrl-C: stop now, without a checkpoint
                self._restore_handlers()
                raise KeyboardInterrupt
            return
        self.requested = name
        if self._announce:
            what = "Ctrl-C" if signum == signal.SIGINT else name
            again = " (Ctrl-C again stops at once, without one)" if signum == signal.SIGINT else ""
            print(
                f"\n[simclr] {what}: stopping after this step with a checkpoint{again}",
                file=sys.stderr,
                flush=True,
            )

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    # ------------------------------------------------------------------------- stopping
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch, batch_idx
    ) -> None:
        name = self.requested or ("SIGTERM" if trainer.received_sigterm else None)
        # every process stops after the same step, or the others would wait in a collective
        if trainer.strategy.reduce_boolean_decision(name is not None, all=False):
            self._save(trainer)
            raise self.interrupted(trainer, name or "SIGTERM")

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        # SIGTERM between training steps (validation, an epoch's end): Lightning stopped there
        if isinstance(exception, SIGTERMException) and self.saved_at is None:
            self._save(trainer)
        self._restore_handlers()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_handlers()

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.last_checkpoint, weights_only=False)
        self.saved_at = trainer.global_step

    def interrupted(self, trainer: L.Trainer, name: str) -> TrainingInterrupted:
        run_dir = self.last_checkpoint.parent.parent
        return TrainingInterrupted(
            f"stopped by {name} at step {trainer.global_step}; {self.last_checkpoint} saved; "
            f"continue with: simclr pretrain --resume {run_dir}",
            name,
            announce=trainer.is_global_zero,
        )
