"""The projection head g of simclr/head.py: none, linear and mlp (SimCLR section 4.2)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from simclr.head import ProjectionHead


def representation(batch: int = 6, dim: int = 12) -> torch.Tensor:
    return torch.randn(batch, dim, generator=torch.Generator().manual_seed(0))


def modules_of(head: ProjectionHead, kind: type) -> list[nn.Module]:
    return [m for m in head.modules() if isinstance(m, kind)]


@pytest.mark.parametrize("dim", [4, 12])
def test_none_is_the_identity(dim: int) -> None:
    head = ProjectionHead(dim, "none", projection_dim=128)
    h = representation(dim=dim)
    assert torch.equal(head(h), h)
    assert head.projection_dim == dim
    assert not list(head.parameters())


@pytest.mark.parametrize("projection_dim", [3, 128])
def test_linear_is_one_linear_layer(projection_dim: int) -> None:
    head = ProjectionHead(12, "linear", projection_dim=projection_dim)
    h = representation()
    (linear,) = modules_of(head, nn.Linear)
    assert (linear.in_features, linear.out_features) == (12, projection_dim)
    assert not modules_of(head, nn.ReLU) and not modules_of(head, nn.BatchNorm1d)
    torch.testing.assert_close(head(h), h @ linear.weight.T + linear.bias)
    assert head.projection_dim == projection_dim


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("layers", [2, 3])
@pytest.mark.parametrize("hidden_dim, projection_dim", [(None, 8), (20, 5)])
def test_mlp_structure(layers: int, batch_norm: bool, hidden_dim: int | None, projection_dim: int):
    head = ProjectionHead(12, "mlp", hidden_dim, projection_dim, layers, batch_norm)
    linears = modules_of(head, nn.Linear)
    width = hidden_dim or 12  # the hidden width defaults to the representation's
    expected = [(12, width)] + [(width, width)] * (layers - 2) + [(width, projection_dim)]
    assert [(m.in_features, m.out_features) for m in linears] == expected
    assert len(modules_of(head, nn.BatchNorm1d)) == (layers - 1 if batch_norm else 0)
    assert len(modules_of(head, nn.ReLU)) == layers - 1
    # hidden biases only where no BatchNorm follows; the last layer always has one
    assert [m.bias is not None for m in linears] == [not batch_norm] * (layers - 1) + [True]
    assert head(representation()).shape == (6, projection_dim)
    assert head.projection_dim == projection_dim


@pytest.mark.parametrize("batch_norm", [True, False])
def test_two_layer_mlp_is_w2_relu_bn_w1_h(batch_norm: bool) -> None:
    head = ProjectionHead(12, "mlp", hidden_dim=7, projection_dim=5, batch_norm=batch_norm).train()
    first, last = modules_of(head, nn.Linear)
    h = representation()
    hidden = F.linear(h, first.weight, first.bias)
    if batch_norm:
        bn = modules_of(head, nn.BatchNorm1d)[0]
        mean, var = hidden.mean(0), hidden.var(0, unbiased=False)
        hidden = (hidden - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias
    expected = F.linear(torch.relu(hidden), last.weight, last.bias)
    torch.testing.assert_close(head(h), expected)


def test_invalid_heads_are_refused_in_the_block_s_own_words() -> None:
    """The block names its arguments (a library user never wrote head.type=); the config names
    its keys, from the block's own list of choices."""
    with pytest.raises(
        ValueError, match="^head_type='deep' is invalid: allowed: none, linear, mlp"
    ):
        ProjectionHead(12, "deep")
    with pytest.raises(ValueError, match="^layers=1 is invalid"):
        ProjectionHead(12, "mlp", layers=1)
    from simclr.config import ConfigError, load_config, schema
    from simclr.head import HEAD_TYPES

    assert schema.HEAD_TYPES is HEAD_TYPES
    with pytest.raises(ConfigError, match="^head.type='deep'"):
        load_config(None, ["head.type=deep"])


def test_output_dim_is_the_old_name_of_projection_dim() -> None:
    head = ProjectionHead(12, "mlp", hidden_dim=7, output_dim=5)
    assert head.projection_dim == head.output_dim == 5
    assert head(representation()).shape == (6, 5)
