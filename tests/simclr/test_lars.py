"""LARS (simclr/lars.py): every step against the update of its docstring, computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from simclr.lars import LARS


def lars_by_hand(w, grads, lr, momentum, weight_decay, eta):
    """The update of the LARS docstring, in float64 Python scalars, one step per gradient."""
    w, velocity = list(w), [0.0] * len(w)
    for g in grads:
        g = [gi + weight_decay * wi for gi, wi in zip(g, w)]
        w_norm = math.sqrt(sum(x * x for x in w))
        g_norm = math.sqrt(sum(x * x for x in g))
        trust = eta * w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0
        velocity = [momentum * v + lr * trust * gi for v, gi in zip(velocity, g)]
        w = [wi - v for wi, v in zip(w, velocity)]
    return w


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("eta", [0.001, 0.02])
def test_lars_steps_equal_the_update_by_hand(weight_decay: float, eta: float) -> None:
    w0 = [3.0, -4.0, 1.0]
    grads = [[0.5, 0.25, -1.0], [-0.1, 0.3, 0.2], [1.0, 1.0, 1.0]]
    param = nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    optimizer = LARS(
        [param], lr=0.1, momentum=0.9, weight_decay=weight_decay, trust_coefficient=eta
    )
    for g in grads:
        param.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    expected = lars_by_hand(w0, grads, 0.1, 0.9, weight_decay, eta)
    assert param.detach().tolist() == pytest.approx(expected, rel=1e-12)


def test_lars_first_step_numbers() -> None:
    # w = (3, 4): ||w|| = 5; g = (0.6, 0.8): ||g|| = 1; trust = 0.001 * 5 / 1 = 0.005
    param = nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))
    param.grad = torch.tensor([0.6, 0.8], dtype=torch.float64)
    LARS([param], lr=2.0, weight_decay=0.0, trust_coefficient=0.001).step()
    # w - lr * trust * g = (3, 4) - 0.01 * (0.6, 0.8)
    assert param.detach().tolist() == pytest.approx([2.994, 3.992], rel=1e-12)


def test_lars_zero_weights_use_a_trust_ratio_of_one() -> None:
    param = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    param.grad = torch.tensor([1.0, -2.0], dtype=torch.float64)
    LARS([param], lr=0.5, weight_decay=0.0).step()
    assert param.detach().tolist() == pytest.approx([-0.5, 1.0])


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_excluded_group_is_plain_sgd_with_momentum(weight_decay: float) -> None:
    w0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    lars_param, sgd_param = nn.Parameter(w0.clone()), nn.Parameter(w0.clone())
    group = {"params": [lars_param], "lars_exclude": True, "weight_decay": weight_decay}
    lars = LARS([group], lr=0.3)
    sgd = torch.optim.SGD([sgd_param], lr=0.3, momentum=0.9, weight_decay=weight_decay)
    for seed in range(4):
        grad = torch.randn(3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        lars_param.grad, sgd_param.grad = grad.clone(), grad.clone()
        lars.step()
        sgd.step()
        torch.testing.assert_close(lars_param.detach(), sgd_param.detach())


def test_lars_skips_parameters_without_gradient_and_refuses_a_bad_lr() -> None:
    param = nn.Parameter(torch.ones(2))
    LARS([param], lr=0.1).step()
    assert param.detach().tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="lr=0"):
        LARS([param], lr=0)
