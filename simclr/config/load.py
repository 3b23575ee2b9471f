"""The pretraining config of a run: schema defaults, a recipe file, ``key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from simclr.config.merge import build_config, merge_config
from simclr.config.schema import SimCLRConfig


def load_config(
    config_file: str | Path | None = None, overrides: list[str] | None = None
) -> SimCLRConfig:
    """The checked pretraining config: schema defaults, then ``config_file``, then overrides."""
    config: SimCLRConfig = build_config(SimCLRConfig, [], config_file, overrides)
    config.check()
    return config


def as_config(config: SimCLRConfig | dict) -> SimCLRConfig:
    """``config`` as a :class:`SimCLRConfig`: a dict (a checkpoint's hyper-parameters) is merged
    onto the schema, so keys added since it was saved take their defaults."""
    if isinstance(config, SimCLRConfig):
        return config
    return OmegaConf.to_object(merge_config(SimCLRConfig, [config]))


def pretraining_hyperparameters(checkpoint: Any) -> dict | None:
    """The hyperparameters :meth:`simclr.module.SimCLR.from_config` saved in a checkpoint
    (``config``, ``num_classes``); None for a checkpoint of anything else."""
    found = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    return found if isinstance(found, dict) and "config" in found else None
