"""A diverged run stops: a non-finite loss or weight ends training before it is saved.

With too large a learning rate (LARS at ``base_lr=1e6``, say) NT-Xent turns to nan within a few
steps, and every later step, checkpoint and export would carry it. The check runs after each
optimizer step and before the checkpoint callbacks of that step (Lightning runs checkpointing
last), so ``checkpoints/last.ckpt`` keeps the last finite weights and nothing non-finite is
exported.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from simclr.errors import SimCLRError


class TrainingDiverged(SimCLRError, RuntimeError):
    """The loss or a weight stopped being finite; the message is one line with the step."""


class StopOnDivergence(Callback):
    """Raise :class:`TrainingDiverged` at the first step whose loss or weights are not finite."""

    def __init__(self, last_checkpoint: str) -> None:
        self.last_checkpoint = last_checkpoint

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch, batch_idx
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        loss_finite = loss is None or bool(torch.isfinite(loss.detach()))
        # buffers too: BatchNorm's running variance overflows before the loss does
        tensors = [*pl_module.parameters(), *pl_module.buffers()]
        state = [t.detach() for t in tensors if t.is_floating_point()]
        weights_finite = bool(torch.isfinite(torch.nn.utils.get_total_norm(state)))
        if loss_finite and weights_finite:
            return
        what = "the loss" if not loss_finite else "a weight or BatchNorm statistic"
        config = getattr(pl_module, "config", None)
        lr = f" (now {config.optimizer.base_lr:g})" if config is not None else ""
        raise TrainingDiverged(
            f"training diverged at step {trainer.global_step}: {what} is not finite; nothing "
            f"was exported and {self.last_checkpoint} keeps the last finite weights (if one was "
            f"saved); lower optimizer.base_lr{lr} or add warm-up (optimizer.warmup_epochs)"
        )
