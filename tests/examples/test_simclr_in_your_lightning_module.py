"""examples/simclr_in_your_lightning_module.py runs as README says, on a tiny subset, and the
encoder it saves is a plain torchvision ResNet-18 state_dict that its steps changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from simclr.data.readers import read_fashion_mnist

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "simclr_in_your_lightning_module.py"


def grey_resnet18() -> nn.Module:
    model = torchvision.models.resnet18()
    model.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    model.fc = nn.Identity()
    return model


@pytest.mark.slow
def test_the_example_trains_the_blocks_and_saves_f(tmp_path: Path, fashion_mnist_root) -> None:
    read_fashion_mnist("train", root=str(fashion_mnist_root), download=False)  # the IDX files
    out = tmp_path / "encoder.pt"
    arguments = ["--data-root", str(fashion_mnist_root), "--no-download", "--steps", "3"]
    arguments += ["--batch-size", "16", "--subset", "64", "--out", str(out)]
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["steps"] == 3 and torch.isfinite(torch.tensor(report["loss"]))
    trained = grey_resnet18()
    trained.load_state_dict(torch.load(out, weights_only=True))  # strict: plain torchvision
    torch.manual_seed(0)  # the script's seed: the initial weights of its f
    initial = grey_resnet18()
    assert not torch.equal(trained.conv1.weight, initial.conv1.weight)
