"""The pretrained f exported for use without this package: a plain torchvision state_dict.

``encoder.pt`` holds the backbone's weights and buffers under torchvision's names (a
``cifar_resnet``'s under :class:`simclr.small_resnets.CifarResNet`'s), and ``encoder.yaml`` the
architecture (name, stem, input channels, residual; width and shortcut for a ``cifar_resnet``)
needed to rebuild the network around them; both are written atomically, so a reader never sees
half a file.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from omegaconf import OmegaConf

from simclr.module import SimCLR
from simclr.run.atomic import atomic_write


def export_encoder(module: SimCLR, run_dir: Path) -> Path:
    """Write f as a plain torchvision state_dict plus ``encoder.yaml`` describing it."""
    path = run_dir / "encoder.pt"
    state = {
        k: v.detach().cpu().contiguous() for k, v in module.encoder.backbone.state_dict().items()
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, buffer.getvalue())
    description = OmegaConf.to_yaml(OmegaConf.create(module.encoder.describe()))
    atomic_write(run_dir / "encoder.yaml", description.encode())
    return path
