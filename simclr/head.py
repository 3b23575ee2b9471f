"""Projection head g: representation h -> projection z on which the contrastive loss is applied.

SimCLR section 4.2 and figure 8 compare three heads: identity (``none``, z = h), ``linear``
(z = W h) and the non-linear ``mlp`` (z = W2 relu(BN(W1 h))) that works best; the
representation used downstream is always h, taken before the head.
"""

from __future__ import annotations

import torch
from torch import nn

HEAD_TYPES = ("none", "linear", "mlp")  # SimCLR figure 8's three heads


class ProjectionHead(nn.Module):
    """The projection head g of SimCLR section 2.1 (compared in section 4.2, figure 8):
    (B, input_dim) -> (B, projection_dim), or the identity for ``head_type="none"``.

    ``projection_dim`` is the size of z (128 in the paper, section B.1); ``layers`` counts the
    linear layers of the mlp head (2 in SimCLR v1, 3 in SimCLR v2); every hidden layer is
    Linear -> BatchNorm (optional) -> ReLU, the last is a plain Linear. ``output_dim``, its name
    before, is still taken.
    """

    def __init__(
        self,
        input_dim: int,
        head_type: str = "mlp",
        hidden_dim: int | None = None,
        projection_dim: int = 128,
        layers: int = 2,
        batch_norm: bool = True,
        *,
        output_dim: int | None = None,
    ) -> None:
        super().__init__()
        if output_dim is not None:  # the name before projection_dim
            projection_dim = output_dim
        hidden_dim = hidden_dim or input_dim
        if head_type == "none":
            self.net: nn.Module = nn.Identity()
            self.projection_dim = input_dim
        elif head_type == "linear":
            self.net = nn.Linear(input_dim, projection_dim)
            self.projection_dim = projection_dim
        elif head_type == "mlp":
            if layers < 2:
                raise ValueError(f"layers={layers} is invalid: an mlp head needs >= 2")
            blocks: list[nn.Module] = []
            width = input_dim
            for _ in range(layers - 1):
                # the bias is redundant before BatchNorm's own shift
                blocks.append(nn.Linear(width, hidden_dim, bias=not batch_norm))
                if batch_norm:
                    blocks.append(nn.BatchNorm1d(hidden_dim))
                blocks.append(nn.ReLU(inplace=True))
                width = hidden_dim
            blocks.append(nn.Linear(width, projection_dim))
            self.net = nn.Sequential(*blocks)
            self.projection_dim = projection_dim
        else:
            raise ValueError(
                f"head_type={head_type!r} is invalid: allowed: {', '.join(HEAD_TYPES)}"
            )
        self.head_type = head_type

    @property
    def output_dim(self) -> int:
        """``projection_dim``, by its name before."""
        return self.projection_dim

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        return self.net(representation)
