"""The online linear probe (simclr/probe.py): cross-entropy on the labelled rows, its own group."""

from __future__ import annotations

import torch

from simclr.probe import OnlineProbe


def test_unlabelled_images_are_left_out_of_the_probe(seeded) -> None:
    probe = OnlineProbe(feature_dim=5, num_classes=4)
    representation = torch.randn(4, 5)
    assert probe.loss_and_accuracy(representation, torch.full((4,), -1)) == (None, None)
    loss, accuracy = probe.loss_and_accuracy(representation, torch.tensor([-1, 2, -1, 3]))
    logits = representation[[1, 3]] @ probe.weight.T + probe.bias  # the linear map by hand
    torch.testing.assert_close(
        loss, torch.nn.functional.cross_entropy(logits, torch.tensor([2, 3]))
    )
    expected = (logits.argmax(dim=1) == torch.tensor([2, 3])).float().mean()
    torch.testing.assert_close(accuracy, expected)


def test_a_half_precision_representation_is_classified_in_float32(seeded) -> None:
    probe = OnlineProbe(feature_dim=3, num_classes=2)
    loss, _ = probe.loss_and_accuracy(torch.randn(2, 3).bfloat16(), torch.tensor([0, 1]))
    assert loss.dtype == torch.float32


def test_the_parameter_group_carries_the_probes_own_rate_and_decay() -> None:
    probe = OnlineProbe(feature_dim=3, num_classes=2, lr=0.25, weight_decay=1e-4)
    group = probe.parameter_group()
    assert group["lr"] == 0.25 and group["weight_decay"] == 1e-4
    assert {id(p) for p in group["params"]} == {id(probe.weight), id(probe.bias)}
    assert set(probe.state_dict()) == {"weight", "bias"}  # a checkpoint's probe.weight, probe.bias
