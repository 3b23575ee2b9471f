"""The pretrained f exported as a plain torchvision state_dict (simclr/run/export.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from omegaconf import OmegaConf
from torch import nn

from simclr.module import SimCLR
from simclr.run.export import export_encoder


def test_export_writes_the_backbone_state_and_its_description(
    make_config, seeded, tmp_path: Path
) -> None:
    module = SimCLR.from_config(make_config("encoder.stem=small"), num_classes=10)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert export_encoder(module, run_dir) == run_dir / "encoder.pt"
    assert sorted(path.name for path in run_dir.iterdir()) == ["encoder.pt", "encoder.yaml"]
    state = torch.load(run_dir / "encoder.pt", weights_only=True)
    backbone = module.encoder.backbone.state_dict()
    assert list(state) == list(backbone)  # no head, no probe, no "encoder." prefix
    for name, tensor in state.items():
        assert torch.equal(tensor, backbone[name]) and tensor.is_contiguous(), name
    description = OmegaConf.to_container(OmegaConf.load(run_dir / "encoder.yaml"))
    assert (
        description
        == module.encoder.describe()
        == {
            "name": "resnet18",
            "stem": "small",
            "in_channels": 1,
            "residual": True,
            "feature_dim": 512,
        }
    )


@pytest.mark.slow
def test_exported_encoder_loads_into_torchvision(first_run) -> None:
    run_dir = first_run.run_dir
    state = torch.load(run_dir / "encoder.pt", weights_only=True)
    model = torchvision.models.resnet18()
    model.fc = nn.Identity()
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.load_state_dict(state, strict=True)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    prefix = "encoder.backbone."
    trained = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    assert trained.keys() == state.keys()
    assert all(torch.equal(trained[k], state[k]) for k in state)
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 512)
