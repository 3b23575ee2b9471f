"""Optimizers of SimCLR pretraining and their learning rate.

- Learning rate scaled with the global batch N: ``base_lr * N / 256`` (linear, SimCLR section
  B.1), ``base_lr * sqrt(N / 256)`` (sqrt, better for small batches per appendix B.1) or as is.
- Biases and normalisation parameters are excluded from weight decay (and, for LARS, from the
  trust ratio).

The learning-rate schedule (warm-up, cosine) is :mod:`simclr.schedule`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from simclr.config.schema import OptimizerConfig
from simclr.lars import LARS


def scaled_learning_rate(base_lr: float, global_batch: int, scaling: str) -> float:
    if scaling == "linear":
        return base_lr * global_batch / 256
    if scaling == "sqrt":
        return base_lr * math.sqrt(global_batch / 256)
    if scaling == "none":
        return base_lr
    raise ValueError(f"optimizer.lr_scaling={scaling!r} is invalid: allowed: linear, sqrt, none")


def split_decay_groups(module: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights that get decay, biases and norm parameters that do not): ndim <= 1 is the latter."""
    decay, no_decay = [], []
    for param in module.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    return decay, no_decay


def build_optimizer(
    model: nn.Module,
    config: OptimizerConfig,
    lr: float,
    extra_groups: list[dict] | None = None,
) -> torch.optim.Optimizer:
    """The configured optimizer over ``model``, plus ``extra_groups`` (such as a probe)."""
    decay, no_decay = split_decay_groups(model)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay, "lars_exclude": False},
        {"params": no_decay, "weight_decay": 0.0, "lars_exclude": True},
    ]
    groups += [{"lars_exclude": True, **group} for group in extra_groups or []]
    groups = [group for group in groups if group["params"]]
    if config.name == "lars":
        return LARS(
            groups,
            lr=lr,
            momentum=config.momentum,
            trust_coefficient=config.trust_coefficient,
        )
    for group in groups:
        group.pop("lars_exclude")
    if config.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=config.momentum)
    if config.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(config.betas))
    raise ValueError(f"optimizer.name={config.name!r} is invalid: allowed: lars, sgd, adamw")
