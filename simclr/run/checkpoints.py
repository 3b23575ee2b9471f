"""The rolling ``checkpoints/last.ckpt`` that makes an interrupted run resumable, and the checks
before a run resumes from a checkpoint: the overrides keep the model and the data of the run's
config, and the checkpoint's weights fit the module the config describes."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from simclr.config.load import pretraining_hyperparameters
from simclr.config.schema import SimCLRConfig
from simclr.errors import ConfigError
from simclr.module import SimCLR


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


def check_fits(checkpoint: dict, config: SimCLRConfig, what: str) -> None:
    """Refuse in one line, before any work, a checkpoint that ``SimCLR.from_config(config)``
    cannot load strictly: one of another program, or of another architecture (a resumed run
    whose overrides changed the encoder, say). ``what`` names the checkpoint."""
    hyperparameters = pretraining_hyperparameters(checkpoint)
    weights = checkpoint.get("state_dict")
    if hyperparameters is None:
        raise ConfigError(
            f"{what}: not a simclr pretraining checkpoint (no config among its hyperparameters)"
        )
    module = SimCLR.from_config(config, hyperparameters.get("num_classes", 0))
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    found = {
        name: tuple(value.shape)
        for name, value in (weights if isinstance(weights, dict) else {}).items()
        if isinstance(value, torch.Tensor)
    }
    if found == expected:
        return
    differences = [f"missing {name}" for name in expected if name not in found]
    differences += [f"unexpected {name}" for name in found if name not in expected]
    differences += [
        f"{name} is {found[name]}, not {expected[name]}"
        for name in expected
        if name in found and found[name] != expected[name]
    ]
    shown = ", ".join(differences[:3]) + (
        f" and {len(differences) - 3} more" if len(differences) > 3 else ""
    )
    raise ConfigError(f"{what}: its weights do not fit the config's model: {shown}")


# the settings that change the model's weights or the data they are trained on: a resumed run
# may change any other key (the budget, the loggers, the workers), never these
MODEL_AND_DATA_KEYS = ("encoder", "head", "data.name", "data.channels", "data.image_size")


def check_same_model(saved: SimCLRConfig, config: SimCLRConfig, what: str) -> None:
    """Refuse in one line a resumed run whose overrides change the model or the data of the
    run's ``config.yaml`` (``saved``), naming the first such key with both values; run before
    the checkpoint is read (:func:`check_fits` stays the second line of defence)."""
    before, after = _flat(OmegaConf.structured(saved)), _flat(OmegaConf.structured(config))
    for key, value in before.items():
        if not any(key == name or key.startswith(f"{name}.") for name in MODEL_AND_DATA_KEYS):
            continue
        if after.get(key) != value:
            raise ConfigError(
                f"{what}: {key}={after.get(key)!r} changes the run's model or data ({key}="
                f"{value!r} in its config.yaml): a resumed run keeps them; start a new run instead"
            )


def _flat(config: DictConfig, prefix: str = "") -> dict[str, object]:
    values: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, DictConfig):
            values.update(_flat(value, f"{prefix}{key}."))
        else:
            values[f"{prefix}{key}"] = value
    return values


def checkpoint_bytes(module: SimCLR) -> int:
    """About the disk a run needs for its checkpoints, known before the first step: weights and
    buffers, with up to two optimizer copies (momentum; Adam's two moments) in each of
    ``last.ckpt``, the temporary it is written to, and ``best.ckpt``; plus ``encoder.pt``."""
    tensors = [*module.parameters(), *module.buffers()]
    weights = sum(tensor.numel() * tensor.element_size() for tensor in tensors)
    return 3 * 3 * weights + weights
