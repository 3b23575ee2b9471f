"""Projection head g: representation h -> projection z on which the contrastive loss is applied.

SimCLR section 4.2 and figure 8 compare three heads: identity (``none``, z = h), ``linear``
(z = W h) and the non-linear ``mlp`` (z = W2 relu(BN(W1 h))) that works best; the
representation used downstream is always h, taken before the head.
"""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """The projection head g of SimCLR section 2.1 (compared in section 4.2, figure 8):
    (B, input_dim) -> (B, output_dim), or the identity for ``head_type="none"``.

    ``layers`` counts the linear layers of the mlp head (2 in SimCLR v1, 3 in SimCLR v2); every
    hidden layer is Linear -> BatchNorm (optional) -> ReLU, the last is a plain Linear.
    """

    def __init__(
        self,
        input_dim: int,
        head_type: str = "mlp",
        hidden_dim: int | None = None,
        output_dim: int = 128,
        layers: int = 2,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        hidden_dim = hidden_dim or input_dim
        if head_type == "none":
            self.net: nn.Module = nn.Identity()
            self.output_dim = input_dim
        elif head_type == "linear":
            self.net = nn.Linear(input_dim, output_dim)
            self.output_dim = output_dim
        elif head_type == "mlp":
            if layers < 2:
                raise ValueError(f"head.layers={layers} is invalid: an mlp head needs >= 2")
            blocks: list[nn.Module] = []
            width = input_dim
            for _ in range(layers - 1):
                # the bias is redundant before BatchNorm's own shift
                blocks.append(nn.Linear(width, hidden_dim, bias=not batch_norm))
                if batch_norm:
                    blocks.append(nn.BatchNorm1d(hidden_dim))
                blocks.append(nn.ReLU(inplace=True))
                width = hidden_dim
            blocks.append(nn.Linear(width, output_dim))
            self.net = nn.Sequential(*blocks)
            self.output_dim = output_dim
        else:
            raise ValueError(f"head.type={head_type!r} is invalid: allowed: none, linear, mlp")
        self.head_type = head_type

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        return self.net(representation)
