"""LARS: layer-wise adaptive rate scaling (You et al. 2017), the optimizer of SimCLR (section 2).

For each parameter w with gradient g the update is

    g <- g + weight_decay * w
    trust = eta * ||w|| / ||g||     (1 where either norm is 0)
    v <- momentum * v + lr * trust * g
    w <- w - v

Parameter groups with ``lars_exclude=True`` (SimCLR excludes biases and BatchNorm parameters)
get no trust-ratio adaptation: plain SGD with momentum, with the group's own weight decay
(``build_optimizer`` gives biases and BatchNorm 0). torch has no LARS, so this is the one
optimizer written by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim import Optimizer


class LARS(Optimizer):
    """Layer-wise adaptive rate scaling (You et al. 2017), SimCLR's optimizer for every batch
    size (section 2, "Training with large batch size"): the update rule in this module's
    docstring, ``trust_coefficient`` eta; groups with ``lars_exclude=True`` are plain SGD."""

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        trust_coefficient: float = 0.001,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"lr={lr} is invalid: must be > 0")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            lars_exclude=False,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(param, alpha=group["weight_decay"])
                if not group["lars_exclude"]:
                    param_norm = torch.linalg.vector_norm(param)
                    grad_norm = torch.linalg.vector_norm(grad)
                    trust = group["trust_coefficient"] * param_norm / grad_norm
                    usable = (param_norm > 0) & (grad_norm > 0)
                    grad = grad.mul(torch.where(usable, trust, torch.ones_like(trust)))
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                buffer = state["momentum_buffer"]
                buffer.mul_(group["momentum"]).add_(grad, alpha=group["lr"])
                param.sub_(buffer)
        return loss
