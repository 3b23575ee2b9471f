"""The rolling ``checkpoints/last.ckpt`` that makes an interrupted run resumable."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    """``checkpoints/last.ckpt`` every ``every_n_train_steps`` and at the final step.

    Lightning 2.6 skips ``last.ckpt`` at the end of training once any was saved, so a run that
    ends between two saves would resume from an older step. Its version counter is off: a run
    moved or copied and then resumed would otherwise write ``last-v1.ckpt`` beside a stale
    ``last.ckpt``, and the next resume would start from the older step.
    """

    def __init__(self, dirpath: Path, every_n_train_steps: int) -> None:
        super().__init__(
            dirpath=dirpath,
            save_top_k=0,
            save_last=True,
            every_n_train_steps=every_n_train_steps,
            enable_version_counter=False,
        )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
