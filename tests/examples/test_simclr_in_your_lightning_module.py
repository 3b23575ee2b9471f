"""examples/simclr_in_your_lightning_module.py runs as README says, on a tiny subset, and the
encoder it saves is a plain torchvision ResNet-18 state_dict that its steps changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from tests.examples.running import run_example


def grey_resnet18() -> nn.Module:
    model = torchvision.models.resnet18()
    model.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    model.fc = nn.Identity()
    return model


@pytest.mark.slow
def test_the_example_trains_the_blocks_and_saves_f(tmp_path: Path, fashion_mnist_root) -> None:
    out = tmp_path / "encoder.pt"
    arguments = ["--steps", "3", "--batch-size", "16", "--subset", "64", "--out", str(out)]
    report = run_example(
        "simclr_in_your_lightning_module.py", fashion_mnist_root, tmp_path, *arguments
    )
    assert report["steps"] == 3 and torch.isfinite(torch.tensor(report["loss"]))
    assert_f_was_trained(out)


def assert_f_was_trained(out: Path) -> None:
    """``out`` is a plain torchvision ResNet-18 state_dict (loaded strictly) whose first
    convolution moved from the scripts' seed-0 initial weights."""
    trained = grey_resnet18()
    trained.load_state_dict(torch.load(out, weights_only=True))
    torch.manual_seed(0)
    initial = grey_resnet18()
    assert not torch.equal(trained.conv1.weight, initial.conv1.weight)
