"""What a checkpoint holds beyond Lightning's so that a resumed run is the uninterrupted one.

Lightning restores the weights, the optimizer, the learning-rate schedule and the step. The
views are drawn from torch's global random state, and the images of the interrupted epoch come
in an order the sampler derives from (seed, epoch); so the checkpoint also keeps every random
state (torch, CUDA, numpy, Python) and how many batches of the epoch were trained. On resume,
both are put back before the first batch is drawn, and the sampler skips the batches already
seen: on CPU the resumed run's encoder is the uninterrupted run's, bit for bit. A run that
``trainer.max_steps`` stopped mid-epoch goes on in that epoch, in its order.

Before any of it, :func:`resume_config` checks what a resume may change: the run's saved config
with the new overrides, compared with the checkpoint before Lightning loads it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from simclr.config.load import load_config
from simclr.config.schema import SimCLRConfig
from simclr.data.sampling import EpochSampler
from simclr.errors import ConfigError
from simclr.run.checkpoints import check_fits, check_same_model
from simclr.run.launch import is_global_rank_zero
from simclr.run.torch_files import read_torch_file


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

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        """Before Lightning restores its loops from ``checkpoint``: the optimizer steps counted
        where this run counts them, and an epoch that ``trainer.max_steps`` cut short put back."""
        fit_loop = checkpoint.get("loops", {}).get("fit_loop")
        if fit_loop is not None:
            _count_steps_where_the_module_does(fit_loop, pl_module.automatic_optimization)
        ours = checkpoint.get("callbacks", {}).get(self.state_key)
        if ours is None or fit_loop is None:
            return
        # a run that trainer.max_steps stopped mid-epoch: Lightning counts that epoch as done,
        # so a larger max_steps would train the rest of it in the next epoch's order
        batches = fit_loop["epoch_loop.batch_progress"]
        epochs = fit_loop["epoch_progress"]
        cut_short = (
            not batches.get("is_last_batch", True)
            and 0 < ours["batches"] == batches["current"]["ready"]
            and ours["epoch"] + 1 == checkpoint.get("epoch") == epochs["current"]["completed"]
            and epochs["total"]["completed"] == epochs["total"]["started"]
        )
        if cut_short:  # Lightning's own stage for a checkpoint saved in the middle of an epoch
            for counts in (epochs["total"], epochs["current"]):
                counts["processed"] -= 1
                counts["completed"] -= 1
            checkpoint["epoch"] = ours["epoch"]

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


def _count_steps_where_the_module_does(fit_loop: dict[str, Any], automatic: bool) -> None:
    """Lightning counts optimizer steps (its ``global_step``) in the automatic or the manual
    optimization's progress; a run resumed with ``trainer.chunk_size`` set or unset (manual or
    automatic) continues the count of the other."""
    auto = fit_loop.get("epoch_loop.automatic_optimization.optim_progress")
    manual = fit_loop.get("epoch_loop.manual_optimization.optim_step_progress")
    if auto is None or manual is None:
        return
    steps = auto["optimizer"]["step"]
    if not automatic and manual["total"]["completed"] < steps["total"]["completed"]:
        manual["total"], manual["current"] = dict(steps["total"]), dict(steps["current"])
    if automatic and steps["total"]["completed"] < manual["total"]["completed"]:
        steps["total"], steps["current"] = dict(manual["total"]), dict(manual["current"])
        for name in ("total", "current"):
            done = manual[name]["completed"]
            auto["optimizer"]["zero_grad"][name] = {
                "ready": done,
                "started": done,
                "completed": done,
            }


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> SimCLRConfig:
    """The saved config of ``run_dir`` with ``overrides`` on top (e.g. more epochs); refused in
    one line when it is not a run, the overrides change its model or data, or the budget is
    already reached. A run killed before its first checkpoint restarts in place."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there, so it is not a run directory")
    config = load_config(run_dir / "config.yaml", overrides)
    check_same_model(load_config(run_dir / "config.yaml"), config, f"--resume {run_dir}")
    checkpoint = resume_checkpoint(run_dir)
    if checkpoint is None:  # killed before its first checkpoint: nothing to lose by restarting
        if is_global_rank_zero():
            print(
                f"[simclr] {run_dir} holds no checkpoint yet: restarting it from step 0 with its "
                "config.yaml",
                flush=True,
            )
        return config
    state = read_torch_file(checkpoint, "--resume")  # unsafe or damaged: one line, before any work
    check_fits(state, config, f"--resume {run_dir}: {checkpoint.name}")
    _let_max_steps_end_the_run(config, state, overrides or [])
    reached = budget_reached(config, state)
    if reached is not None:
        limit, more = reached
        raise ConfigError(
            f"--resume {run_dir}: the run is at step {state.get('global_step')} (epoch "
            f"{state.get('epoch')} done) and {limit} ends it there; to train longer, raise it, "
            f"e.g. simclr pretrain --resume {run_dir} {more}"
        )
    return config


def _let_max_steps_end_the_run(config: SimCLRConfig, state: dict, overrides: list[str]) -> None:
    """A run stopped by ``trainer.max_steps`` and given a larger one goes on to it, as a run
    given a larger ``max_epochs`` does: its ``max_epochs`` (the default 1, say) would otherwise
    end it at the end of the current epoch. Every epoch makes a step, so ``max_steps`` epochs
    never end it first; an override of ``max_epochs`` is kept as given."""
    trainer = config.trainer
    if trainer.max_steps == -1 or trainer.max_steps <= state.get("global_step", 0):
        return
    if any(item.split("=")[0].strip() == "trainer.max_epochs" for item in overrides):
        return
    if trainer.max_epochs < trainer.max_steps:
        trainer.max_epochs = trainer.max_steps


def resume_checkpoint(run_dir: Path) -> Path | None:
    """The newest of ``checkpoints/last.ckpt`` and the ``hpc_ckpt_N.ckpt`` that Lightning
    saves on SLURM's requeue signal; None if neither exists."""
    found = [run_dir / "checkpoints" / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt")]
    found = [path for path in found if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime) if found else None


def budget_reached(config: SimCLRConfig, state: dict) -> tuple[str, str] | None:
    """(the setting that ends the run at the checkpoint's step, a larger one) when Lightning
    would train no step from ``state``; None when there is training left."""
    trainer = config.trainer
    step, epoch = state.get("global_step", 0), state.get("epoch", 0)
    if trainer.max_steps != -1 and step >= trainer.max_steps:
        more = step + max(1, step // 2)
        return f"trainer.max_steps={trainer.max_steps}", f"trainer.max_steps={more}"
    if epoch >= trainer.max_epochs:
        return f"trainer.max_epochs={trainer.max_epochs}", f"trainer.max_epochs={epoch + 1}"
    return None
