"""Learning-rate scaling and parameter groups (simclr/optim.py), each against values computed by
hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from simclr.config import OptimizerConfig
from simclr.lars import LARS
from simclr.optim import build_optimizer, scaled_learning_rate


@pytest.mark.parametrize(
    "base_lr, batch, scaling, expected",
    [
        (0.3, 4096, "linear", 4.8),  # SimCLR's ImageNet setting: 0.3 * 4096 / 256
        (1.0, 64, "linear", 0.25),
        (0.075, 4096, "sqrt", 0.3),  # 0.075 * sqrt(16)
        (1.0, 1024, "sqrt", 2.0),
        (0.5, 64, "sqrt", 0.25),
        (0.1, 4096, "none", 0.1),
    ],
)
def test_scaled_learning_rate(base_lr: float, batch: int, scaling: str, expected: float) -> None:
    assert scaled_learning_rate(base_lr, batch, scaling) == pytest.approx(expected)


def test_unknown_scaling_is_refused() -> None:
    with pytest.raises(ValueError, match="optimizer.lr_scaling='cubic'"):
        scaled_learning_rate(1.0, 256, "cubic")


# ----------------------------------------------------------------------------- groups


def small_model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def ids(params) -> set[int]:
    return {id(p) for p in params}


@pytest.mark.parametrize("name", ["lars", "sgd", "adamw"])
def test_biases_and_batch_norm_get_no_weight_decay(name: str) -> None:
    model = small_model()
    probe = nn.Linear(8, 3)
    config = OptimizerConfig(name=name, weight_decay=1e-4)
    extra = [{"params": list(probe.parameters()), "lr": 0.05, "weight_decay": 0.0}]
    optimizer = build_optimizer(model, config, lr=0.5, extra_groups=extra)
    decay, no_decay, probe_group = optimizer.param_groups
    assert ids(decay["params"]) == {id(model[0].weight), id(model[3].weight)}
    assert ids(no_decay["params"]) == {
        id(model[0].bias),
        id(model[1].weight),
        id(model[1].bias),
        id(model[3].bias),
    }
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (1e-4, 0.0)
    assert (decay["lr"], no_decay["lr"], probe_group["lr"]) == (0.5, 0.5, 0.05)
    assert ids(probe_group["params"]) == ids(probe.parameters())
    if name == "lars":
        assert isinstance(optimizer, LARS)
        assert [g["lars_exclude"] for g in optimizer.param_groups] == [False, True, True]
        assert optimizer.defaults["trust_coefficient"] == config.trust_coefficient
    else:
        assert all("lars_exclude" not in g for g in optimizer.param_groups)
        expected = torch.optim.SGD if name == "sgd" else torch.optim.AdamW
        assert type(optimizer) is expected


def test_frozen_parameters_are_left_out() -> None:
    model = small_model()
    model[0].weight.requires_grad_(False)
    optimizer = build_optimizer(model, OptimizerConfig(name="sgd"), lr=0.1)
    assert id(model[0].weight) not in ids(p for g in optimizer.param_groups for p in g["params"])
