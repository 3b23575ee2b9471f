"""Base encoder f: a torchvision classification backbone with its classifier removed.

The representation h = f(x) is the globally average-pooled output of the last stage (SimCLR
section 2.1: "h_i = f(x_i) = ResNet(x_i) where h_i is the output after the average pooling
layer"), 512-d for ResNet-18/34 and 2048-d for ResNet-50 and deeper.

Options:
- ``stem="small"``: the 3x3 stride-1 first convolution without max-pool that SimCLR uses for
  CIFAR-10 (appendix B.9), for images of about 32 px.
- ``stem="strided"`` (a 3x3 stride-2 convolution, no max-pool) and ``stem="pooled"`` (a 3x3
  stride-1 convolution, then the max-pool): two stems between the standard one (side / 4 before
  the first stage: 28 px -> 7) and the small one (side / 1, about 10x the cost at 28 px); both
  halve the side (28 px -> 14), within the ResNet paper's design space (He et al. 2015, table 1
  varies only the stages).
- ``in_channels``: 1 for grayscale data, 3 for colour.
- ``residual=False``: every identity and projection shortcut removed, giving the "plain" network
  of the ResNet paper's degradation experiment (He et al. 2015, section 4.1).

The backbone's ``state_dict()`` is a plain torchvision state_dict without classifier weights: it
loads into ``torchvision.models.<name>()`` once the classifier is replaced by ``nn.Identity()``
and, for the small stem, the first convolution is replaced by the same 3x3 convolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torchvision
from torch import nn

from simclr.backbones import ENCODERS, FAMILIES, RESNET, BackboneFamily

if TYPE_CHECKING:
    from simclr.config.schema import SimCLRConfig


class PlainBlock(nn.Module):
    """A torchvision BasicBlock or Bottleneck with its shortcut removed: y = relu(F(x)).

    Keeps the block's convolution and BatchNorm submodules under their torchvision names, so a
    plain network's state_dict has the same keys as the residual one, less ``downsample``.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.layer_names = [
            n for n in ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3") if hasattr(block, n)
        ]
        for name in self.layer_names:
            setattr(self, name, getattr(block, name))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, name in enumerate(self.layer_names):
            x = getattr(self, name)(x)
            is_last = index == len(self.layer_names) - 1
            if name.startswith("bn") and not is_last:
                x = self.relu(x)
        return self.relu(x)


def _remove_shortcuts(model: nn.Module) -> None:
    residual_blocks = (torchvision.models.resnet.BasicBlock, torchvision.models.resnet.Bottleneck)
    for stage_name in ("layer1", "layer2", "layer3", "layer4"):
        stage: nn.Sequential = getattr(model, stage_name)
        for index, block in enumerate(stage):
            if isinstance(block, residual_blocks):
                stage[index] = PlainBlock(block)


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    if isinstance(parent, nn.Sequential) and name.isdigit():
        parent[int(name)] = module
    else:
        setattr(parent, name, module)


def _adapt_stem(model: nn.Module, family: BackboneFamily, stem: str, in_channels: int) -> None:
    conv: nn.Conv2d = model.get_submodule(family.first_conv)
    has_bias = conv.bias is not None
    if stem in ("small", "strided", "pooled"):
        stride = 2 if stem == "strided" else 1
        new_conv = nn.Conv2d(in_channels, conv.out_channels, 3, stride, 1, bias=has_bias)
        _set_submodule(model, family.first_conv, new_conv)
        if stem == "pooled" and family.stem_pool is None:
            raise ValueError(
                f"encoder.stem='pooled' needs a stem max-pool, which {family.name} lacks"
            )
        if family.stem_pool is not None and stem != "pooled":
            _set_submodule(model, family.stem_pool, nn.Identity())
    elif in_channels != conv.in_channels:
        new_conv = nn.Conv2d(
            in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            bias=has_bias,
        )
        _set_submodule(model, family.first_conv, new_conv)


AUTO_POOLED_BELOW = 64  # px: below it the standard stem leaves the last stage a 1x1 map


def resolved_stem(stem: str, name: str, image_size: int) -> str:
    """``encoder.stem`` with ``auto`` resolved for images of side ``image_size``: ``pooled``
    below 64 px where the backbone has a stem max-pool (at 28 px it kept the most accuracy per
    CPU-minute, docs/performance.md), else ``standard``."""
    if stem != "auto":
        return stem
    family = FAMILIES[ENCODERS[name].family]
    small = image_size < AUTO_POOLED_BELOW and family.stem_pool is not None
    return "pooled" if small else "standard"


def _classifier_in_features(classifier: nn.Module) -> int:
    linears = [m for m in classifier.modules() if isinstance(m, nn.Linear)]
    return linears[0].in_features


class Encoder(nn.Module):
    """The base encoder f of SimCLR section 2.1: images (B, C, H, W) -> representation h
    (B, feature_dim), the torchvision network ``name`` without its classifier (h is the output
    after global average pooling); ``stem="small"`` is the CIFAR stem of appendix B.9 and
    ``residual=False`` the plain network of the ResNet paper, section 4.1."""

    def __init__(
        self,
        name: str = "resnet18",
        stem: str = "standard",
        in_channels: int = 3,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if name not in ENCODERS:
            raise ValueError(
                f"encoder.name={name!r} is unknown: allowed: {', '.join(sorted(ENCODERS))}"
            )
        family = FAMILIES[ENCODERS[name].family]
        backbone = torchvision.models.get_model(name, weights=None)
        self.feature_dim = _classifier_in_features(getattr(backbone, family.classifier))
        setattr(backbone, family.classifier, nn.Identity())
        _adapt_stem(backbone, family, stem, in_channels)
        if not residual:
            if family is not RESNET:
                raise ValueError(f"encoder.residual=False needs a ResNet, got {name!r}")
            _remove_shortcuts(backbone)
        self.name, self.stem, self.in_channels, self.residual = name, stem, in_channels, residual
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    def describe(self) -> dict:
        """What is needed to rebuild this encoder around an exported state_dict."""
        return {
            "name": self.name,
            "stem": self.stem,
            "in_channels": self.in_channels,
            "residual": self.residual,
            "feature_dim": self.feature_dim,
        }


def build_encoder(config: SimCLRConfig) -> Encoder:
    """The base encoder f a config describes: its network, stem (``auto`` resolved for the image
    size) and channel count, untrained."""
    # imported here: this file alone also loads where OmegaConf is absent (lightly's benchmarks)
    from simclr.data.config import resolved_channels

    architecture = config.encoder
    stem = resolved_stem(architecture.stem, architecture.name, config.data.image_size)
    return Encoder(architecture.name, stem, resolved_channels(config.data), architecture.residual)
