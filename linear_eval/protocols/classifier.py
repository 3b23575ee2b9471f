"""The linear classifier of the linear evaluation protocol, with its optimizer and schedule.

One ``nn.Linear`` initialised under ``seed`` (so a probe's result depends on the seed alone),
SGD with Nesterov momentum and a cosine learning-rate decay to zero over ``total_steps``
(SimCLR appendix B.6), as every probe here trains it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LinearClassifier:
    """A linear layer, the SGD optimizer over it, and its per-step cosine schedule."""

    layer: nn.Linear
    optimizer: torch.optim.SGD
    schedule: torch.optim.lr_scheduler.CosineAnnealingLR

    def step(self, loss: torch.Tensor) -> None:
        """One optimizer step on ``loss`` and one step of the schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()


def linear_classifier(
    feature_dim: int,
    num_classes: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    total_steps: int,
    seed: int,
    device: torch.device | str = "cpu",
) -> LinearClassifier:
    """A seeded ``feature_dim -> num_classes`` layer with SGD (Nesterov when ``momentum > 0``)
    and a cosine decay over ``total_steps``; torch's global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nn.Linear(feature_dim, num_classes).to(device)
    optimizer = torch.optim.SGD(
        layer.parameters(),
        lr=lr,
        momentum=momentum,
        nesterov=momentum > 0,
        weight_decay=weight_decay,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps)
    return LinearClassifier(layer, optimizer, schedule)
