"""SimCLR (Chen et al. 2020): self-supervised contrastive pretraining of image encoders.

The building blocks compose in any LightningModule (see ``examples/``)::

    from simclr import SimCLRViews, Encoder, ProjectionHead, NTXentLoss, LARS

    views = SimCLRViews(image_size=32, channels=3, crop_scale=(0.08, 1.0), color_strength=0.5)
    f = Encoder("resnet18", stem="small", in_channels=3)
    g = ProjectionHead(f.feature_dim, "mlp", projection_dim=128)
    x1, x2 = views(images)                       # t(x), t'(x), on the images' device
    loss, _ = NTXentLoss(temperature=0.5)(g(f(x1)), g(f(x2)))

The ``SimCLR`` LightningModule composes such blocks (``SimCLR(views, f, g, temperature=0.1,
batch_size=256)``, ``examples/simclr_with_your_own_encoder.py``) or builds them from a config
(``SimCLR.from_config(config)``); ``nt_xent_in_chunks`` trains a batch of any size in chunks
with the exact gradient (``examples/large_batch_in_chunks.py``); and a pretrained f is one call
away: ``load_pretrained("runs/NAME")(images)`` is h for images as they are (uint8 or float, any
size), preprocessed as ``simclr embed`` does; ``load_encoder`` is the plain torchvision network.

Names are imported when first used, so ``import simclr`` (and ``simclr --help``) stays light.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simclr.augment import MultiCropViews, SimCLRViews
    from simclr.chunked import nt_xent_in_chunks
    from simclr.config import SimCLRConfig, load_config
    from simclr.encoder import Encoder
    from simclr.head import ProjectionHead
    from simclr.lars import LARS
    from simclr.loss import NTXentLoss, multi_view_nt_xent_loss, nt_xent_loss
    from simclr.module import SimCLR
    from simclr.probe import OnlineProbe
    from simclr.run.pretrained import load_encoder, load_pretrained
    from simclr.run.train import pretrain

try:
    __version__ = version("simclr")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_HOMES = {
    "SimCLR": "simclr.module",
    "SimCLRViews": "simclr.augment",
    "MultiCropViews": "simclr.augment",
    "Encoder": "simclr.encoder",
    "ProjectionHead": "simclr.head",
    "NTXentLoss": "simclr.loss",
    "nt_xent_loss": "simclr.loss",
    "multi_view_nt_xent_loss": "simclr.loss",
    "nt_xent_in_chunks": "simclr.chunked",
    "LARS": "simclr.lars",
    "OnlineProbe": "simclr.probe",
    "SimCLRConfig": "simclr.config",
    "load_config": "simclr.config",
    "load_encoder": "simclr.run.pretrained",
    "load_pretrained": "simclr.run.pretrained",
    "pretrain": "simclr.run.train",
}

__all__ = [
    "SimCLR",
    "SimCLRViews",
    "MultiCropViews",
    "Encoder",
    "ProjectionHead",
    "NTXentLoss",
    "nt_xent_loss",
    "multi_view_nt_xent_loss",
    "nt_xent_in_chunks",
    "LARS",
    "OnlineProbe",
    "SimCLRConfig",
    "load_config",
    "load_encoder",
    "load_pretrained",
    "pretrain",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """The public names, imported from their modules on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'simclr' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
