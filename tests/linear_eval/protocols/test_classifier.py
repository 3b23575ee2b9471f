"""Tests of linear_eval/protocols/classifier.py: the seeded layer, its SGD and its cosine
schedule."""

from __future__ import annotations

import math

import pytest
import torch

from linear_eval.protocols.classifier import linear_classifier


def _classifier(**changes):
    settings = {
        "feature_dim": 6,
        "num_classes": 3,
        "lr": 0.5,
        "momentum": 0.9,
        "weight_decay": 1e-3,
        "total_steps": 8,
        "seed": 0,
    }
    return linear_classifier(**{**settings, **changes})


def test_the_same_seed_gives_the_same_layer_and_another_seed_another() -> None:
    first, again, other = _classifier(), _classifier(), _classifier(seed=1)
    assert first.layer.in_features == 6 and first.layer.out_features == 3
    assert torch.equal(first.layer.weight, again.layer.weight)
    assert torch.equal(first.layer.bias, again.layer.bias)
    assert not torch.equal(first.layer.weight, other.layer.weight)


@pytest.mark.usefixtures("seeded")
def test_the_global_random_state_is_left_as_it_was() -> None:
    state = torch.get_rng_state()
    expected = torch.rand(4)
    torch.set_rng_state(state)
    _classifier(seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.rand(4), expected)


@pytest.mark.parametrize(("momentum", "nesterov"), [(0.9, True), (0.5, True), (0.0, False)])
def test_sgd_is_nesterov_exactly_when_there_is_momentum(momentum: float, nesterov: bool) -> None:
    classifier = _classifier(momentum=momentum)
    (group,) = classifier.optimizer.param_groups
    assert isinstance(classifier.optimizer, torch.optim.SGD)
    assert group["nesterov"] is nesterov and group["momentum"] == momentum
    assert group["weight_decay"] == 1e-3 and group["lr"] == 0.5
    assert set(map(id, group["params"])) == set(map(id, classifier.layer.parameters()))


def test_the_learning_rate_follows_a_cosine_to_zero_at_total_steps() -> None:
    classifier = _classifier(lr=0.5, total_steps=8)
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1])
    rates = [classifier.optimizer.param_groups[0]["lr"]]
    for _ in range(8):
        loss = torch.nn.functional.cross_entropy(classifier.layer(x), y)
        classifier.step(loss)
        rates.append(classifier.optimizer.param_groups[0]["lr"])
    expected = [0.25 * (1 + math.cos(math.pi * step / 8)) for step in range(9)]
    assert rates == pytest.approx(expected, abs=1e-12)
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)


def test_a_step_follows_this_loss_gradient_alone_and_lowers_the_loss() -> None:
    classifier = _classifier(momentum=0.0, weight_decay=0.0, lr=0.1, total_steps=100)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(classifier.layer(x), y)
        losses.append(loss.item())
        before = classifier.layer.weight.detach().clone()
        (gradient,) = torch.autograd.grad(loss, classifier.layer.weight, retain_graph=True)
        rate = classifier.optimizer.param_groups[0]["lr"]
        classifier.step(loss)
        # without momentum, the step is the rate times this loss's gradient: none left over
        torch.testing.assert_close(classifier.layer.weight.detach(), before - rate * gradient)
    assert losses[-1] < losses[0]
