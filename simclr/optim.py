"""Optimizers and the learning-rate schedule of SimCLR pretraining.

- Learning rate scaled with the global batch N: ``base_lr * N / 256`` (linear, SimCLR section
  B.1), ``base_lr * sqrt(N / 256)`` (sqrt, better for small batches per appendix B.1) or as is.
- Biases and normalisation parameters are excluded from weight decay (and, for LARS, from the
  trust ratio).
- Linear warm-up, then cosine decay to 0 without restarts (SimCLR section 4), stepped once per
  optimizer step.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

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


def warmup_cosine(warmup_steps: int, total_steps: int):
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> LambdaLR:
    return LambdaLR(optimizer, warmup_cosine(warmup_steps, total_steps))
