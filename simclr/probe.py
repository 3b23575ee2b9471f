"""The online linear probe: a classifier on the detached representation h, trained beside f.

Not part of SimCLR's objective: it shows what f has learned while it trains (the paper's linear
evaluation protocol, section 2.3, done online as solo-learn and lightly do). It trains on
``h.detach()``, so it never sends a gradient into f, in a parameter group of its own (its
learning rate and weight decay, no LARS trust ratio) under the run's learning-rate schedule.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OnlineProbe(nn.Linear):
    """A linear classifier from the ``feature_dim``-d representation h to ``num_classes``: the
    linear evaluation of SimCLR section 2.3, trained online beside f.

    A subclass of ``nn.Linear``, so its parameters keep the names a checkpoint holds
    (``probe.weight``, ``probe.bias``)."""

    def __init__(
        self, feature_dim: int, num_classes: int, lr: float = 0.1, weight_decay: float = 0.0
    ) -> None:
        super().__init__(feature_dim, num_classes)
        self.lr, self.weight_decay = lr, weight_decay

    def loss_and_accuracy(
        self, representation: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
        """Cross-entropy and top-1 accuracy over the labelled rows (label >= 0) of a batch of
        detached representations; (None, None) when no row is labelled."""
        known = labels >= 0
        if not known.any():
            return None, None
        logits = self(representation[known].float())
        loss = F.cross_entropy(logits, labels[known])
        accuracy = (logits.argmax(dim=1) == labels[known]).float().mean()
        return loss, accuracy

    def parameter_group(self) -> dict:
        """The optimizer's parameter group of the probe: its own learning rate and decay."""
        return {"params": list(self.parameters()), "lr": self.lr, "weight_decay": self.weight_decay}
