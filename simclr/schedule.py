"""The learning-rate schedule of pretraining, and what it does when a resumed run is extended.

The schedule is linear warm-up, then cosine decay to 0 without restarts (SimCLR section 4),
stepped once per optimizer step. It is a callable object, so ``LambdaLR`` saves its fields in
every checkpoint and a resumed run knows the length it was planned for.

A run resumed with a larger budget (``simclr pretrain --resume RUN trainer.max_epochs=N``) has
a new planned length; ``optimizer.extend`` chooses what the learning rate does from the
resumed step to the new end:

- ``continue`` (default): the cosine goes on from the learning rate where the run stopped down
  to 0 at the new end: no jump, the tail stretched.
- ``restart``: a fresh warm-up (``optimizer.warmup_epochs``) to the peak rate, then a cosine to
  0 at the new end (SGDR-style warm restart, Loshchilov & Hutter 2017).
- ``constant``: the learning rate where the run stopped, held to the new end.
- ``replan``: the schedule as if the run had been planned for the new length from its start
  (a mid-run rate that jumps up when the run had already decayed).

An unchanged budget resumes the planned schedule whatever the choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch.optim.lr_scheduler import LambdaLR

from simclr.config.schema import EXTEND_CHOICES


@dataclass
class Schedule:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based): from
    ``start``, ``warmup`` linear steps up to ``peak``, then a cosine from ``peak`` to 0 at
    ``end`` (or ``peak`` held to the end, ``constant``)."""

    start: int
    end: int
    warmup: int
    peak: float = 1.0
    constant: bool = False

    def __call__(self, step: int) -> float:
        offset = step - self.start
        if self.constant:
            return self.peak
        if offset < self.warmup:
            return self.peak * (offset + 1) / self.warmup
        progress = (offset - self.warmup) / max(1, self.end - self.start - self.warmup)
        return self.peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def warmup_cosine(warmup_steps: int, total_steps: int) -> Schedule:
    """Warm-up for ``warmup_steps``, then cosine to 0 at ``total_steps``."""
    return Schedule(start=0, end=total_steps, warmup=warmup_steps)


def extended(planned: Schedule, fresh: Schedule, step: int, choice: str) -> Schedule:
    """The schedule from ``step`` on, for a run planned as ``planned`` and now to end where
    ``fresh`` (the new budget's schedule from step 0) ends."""
    now = planned(step)
    if choice == "continue":
        return Schedule(start=step, end=fresh.end, warmup=0, peak=now)
    if choice == "constant":
        return Schedule(start=step, end=fresh.end, warmup=0, peak=now, constant=True)
    if choice == "restart":
        warmup = min(fresh.warmup, max(0, fresh.end - step))
        return Schedule(start=step, end=fresh.end, warmup=warmup)
    if choice == "replan":
        return fresh
    raise ValueError(
        f"optimizer.extend={choice!r} is invalid: allowed: {', '.join(EXTEND_CHOICES)}"
    )


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule) -> LambdaLR:
    """One schedule for every parameter group (the probe's too), stepped every optimizer step."""
    return LambdaLR(optimizer, schedule)


class ExtendOnResume(Callback):
    """After Lightning restored a checkpoint's scheduler: when the budget changed, apply
    ``optimizer.extend`` from the resumed step, and say what the learning rate does. The new
    budget's schedule is the module's ``planned_schedule`` (set by ``configure_optimizers``)."""

    def __init__(self, choice: str) -> None:
        self.choice = choice

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        fresh = getattr(pl_module, "planned_schedule", None)
        if trainer.ckpt_path is None or fresh is None or not trainer.lr_scheduler_configs:
            return
        scheduler = trainer.lr_scheduler_configs[0].scheduler
        planned, step = scheduler.lr_lambdas[0], scheduler.last_epoch
        if not isinstance(planned, Schedule) or planned.end == fresh.end:
            message = f"[simclr] resumed at step {step} of {fresh.end}: the schedule goes on"
        else:
            schedule = extended(planned, fresh, step, self.choice)
            scheduler.lr_lambdas = [schedule] * len(scheduler.lr_lambdas)
            for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
                group["lr"] = base * schedule(step)
            scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
            message = (
                f"[simclr] resumed at step {step} of a run planned for {planned.end} steps, now "
                f"{fresh.end}: {describe(self.choice, planned(step), schedule, step)} "
                f"(optimizer.extend={self.choice}; the choices: {', '.join(EXTEND_CHOICES)})"
            )
        if trainer.is_global_zero:
            print(message, flush=True)


def describe(choice: str, before: float, schedule: Schedule, step: int) -> str:
    """What the learning rate multiplier does from ``step`` on, in words."""
    now = schedule(step)
    if choice == "continue":
        return f"the cosine goes on from {now:.3g} of the peak rate to 0 at step {schedule.end}"
    if choice == "constant":
        return f"the rate stays at {now:.3g} of the peak to step {schedule.end}"
    if choice == "restart":
        return (
            f"a fresh warm-up of {schedule.warmup} steps to the peak rate, then a cosine to 0 "
            f"at step {schedule.end} (it was {before:.3g} of the peak)"
        )
    return (
        f"the schedule replanned for {schedule.end} steps from the start: "
        f"{before:.3g} -> {now:.3g} of the peak rate"
    )
