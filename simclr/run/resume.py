"""What a checkpoint holds beyond Lightning's so that a resumed run is the uninterrupted one.

Lightning restores the weights, the optimizer, the learning-rate schedule and the step. The
views are drawn from torch's global random state, and the images of the interrupted epoch come
in an order the sampler derives from (seed, epoch); so the checkpoint also keeps every random
state (torch, CUDA, numpy, Python) and how many batches of the epoch were trained. On resume,
both are put back before the first batch is drawn, and the sampler skips the batches already
seen: on CPU the resumed run's encoder is the uninterrupted run's, bit for bit.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from simclr.data.sampling import EpochSampler


class ExactResume(Callback):
    """Random states and the position in the epoch, saved with every checkpoint."""

    def __init__(self) -> None:
        self.epoch = self.batches_in_epoch = 0
        self._restored: dict[str, Any] | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Put a checkpoint's states back: after Lightning's restore, before the first batch is
        drawn (Lightning calls no ``on_train_epoch_start`` when it resumes mid-epoch)."""
        restored, self._restored = self._restored, None
        if restored is None:
            return
        sampler = getattr(trainer.train_dataloader, "sampler", None)
        # a checkpoint from the end of an epoch: Lightning has moved on to the next one
        if restored["epoch"] == trainer.current_epoch and isinstance(sampler, EpochSampler):
            sampler.skip_batches = self.batches_in_epoch = restored["batches"]
            self.epoch = restored["epoch"]
        torch.set_rng_state(restored["torch"])
        if torch.cuda.is_available() and restored["cuda"]:
            torch.cuda.set_rng_state_all(restored["cuda"])
        np.random.set_state(restored["numpy"])
        random.setstate(restored["python"])

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.batches_in_epoch = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # before the checkpoint callbacks of this batch run (Lightning runs them last)
        self.epoch, self.batches_in_epoch = trainer.current_epoch, self.batches_in_epoch + 1

    def state_dict(self) -> dict[str, Any]:
        kind, keys, position, gauss_next, cached = np.random.get_state()
        version, state, gauss = random.getstate()
        return {
            "epoch": self.epoch,
            "batches": self.batches_in_epoch,
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            # numpy and Python states as plain values: the checkpoint loads with weights_only
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, gauss_next, cached],
            "python": [version, list(state), gauss],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        kind, keys, position, gauss_next, cached = state["numpy"]
        state["numpy"] = (kind, keys.numpy().astype(np.uint32), position, gauss_next, cached)
        version, python_state, gauss = state["python"]
        state["python"] = (version, tuple(python_state), gauss)
        self._restored = state
