"""Base encoder f: a torchvision classification backbone with its classifier removed, or one of
the ResNet paper's small-image networks (``cifar_resnet20`` ..., :mod:`simclr.small_resnets`).

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
- ``width`` and ``shortcut``: the cifar_resnet networks' width k (16k, 32k, 64k filters) and
  shortcut option (A: zero-padded identity, B: 1x1 projections), refused for torchvision's.

The backbone's ``state_dict()`` is a plain torchvision state_dict without classifier weights: it
loads into ``torchvision.models.<name>()`` once the classifier is replaced by ``nn.Identity()``
and, for the small stem, the first convolution is replaced by the same 3x3 convolution. A
cifar_resnet's is :class:`simclr.small_resnets.CifarResNet`'s, which no torchvision model loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torchvision
from torch import nn

from simclr.backbones import ENCODERS, FAMILIES, RESNET, SMALL_RESNET, BackboneFamily, encoder_spec
from simclr.small_resnets import (
    STEM_FIXED,
    TORCHVISION_SHORTCUT,
    TORCHVISION_WIDTH,
    CifarResNet,
    depth_refusal,
    is_small_resnet,
)

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
    CPU-minute, docs/performance.md), else ``standard``; ``small`` for a cifar_resnet."""
    if stem != "auto":
        return stem
    spec = encoder_spec(name)
    if spec is not None and spec.family == SMALL_RESNET:
        return "small"  # the only stem of the ResNet paper's small-image networks
    family = FAMILIES[ENCODERS[name].family]
    small = image_size < AUTO_POOLED_BELOW and family.stem_pool is not None
    return "pooled" if small else "standard"


def _classifier_in_features(classifier: nn.Module) -> int:
    linears = [m for m in classifier.modules() if isinstance(m, nn.Linear)]
    return linears[0].in_features


def _torchvision_backbone(
    name: str, stem: str, in_channels: int, residual: bool
) -> tuple[nn.Module, int]:
    """torchvision's ``name`` without classifier, its stem adapted, and its feature_dim."""
    family = FAMILIES[ENCODERS[name].family]
    backbone = torchvision.models.get_model(name, weights=None)
    feature_dim = _classifier_in_features(getattr(backbone, family.classifier))
    setattr(backbone, family.classifier, nn.Identity())
    _adapt_stem(backbone, family, stem, in_channels)
    if not residual:
        if family is not RESNET:
            raise ValueError(f"encoder.residual=False needs a ResNet, got {name!r}")
        _remove_shortcuts(backbone)
    return backbone, feature_dim


def _check_family_settings(small: bool, stem: str, width: int, shortcut: str) -> None:
    """The settings that only one family reads, refused in the other (one line, the key)."""
    if small and stem != "small":
        raise ValueError(f"encoder.stem={stem!r} is invalid: {STEM_FIXED}")
    if not small and width != 1:
        raise ValueError(f"encoder.width={width!r} is invalid: {TORCHVISION_WIDTH}")
    if not small and shortcut != "A":
        raise ValueError(f"encoder.shortcut={shortcut!r} is invalid: {TORCHVISION_SHORTCUT}")


class Encoder(nn.Module):
    """The base encoder f of SimCLR section 2.1: images (B, C, H, W) -> representation h
    (B, feature_dim), the network ``name`` without its classifier (h is the output after global
    average pooling): a torchvision network, whose ``stem="small"`` is the CIFAR stem of
    appendix B.9, or a ``cifar_resnet{6n+2}`` of the ResNet paper (section 4.2,
    :mod:`simclr.small_resnets`) with ``width`` k (h is 64k-d) and ``shortcut`` "A" or "B".
    ``residual=False`` gives the plain network of the ResNet paper (sections 4.1 and 4.2).
    ``stem=None``: the network's own, ``standard`` for torchvision, ``small`` for cifar_resnet
    (whose ``auto`` is ``small`` too)."""

    def __init__(
        self,
        name: str = "resnet18",
        stem: str | None = None,
        in_channels: int = 3,
        residual: bool = True,
        width: int = 1,
        shortcut: str = "A",
    ) -> None:
        super().__init__()
        spec = encoder_spec(name)
        if spec is None and is_small_resnet(name):
            raise ValueError(f"encoder.name={name!r} is invalid: {depth_refusal(name)}")
        if spec is None:
            raise ValueError(
                f"encoder.name={name!r} is unknown: allowed: {', '.join(sorted(ENCODERS))}"
            )
        small = spec.family == SMALL_RESNET
        if stem is None or (small and stem == "auto"):
            stem = "small" if small else "standard"
        _check_family_settings(small, stem, width, shortcut)
        if small:
            backbone = CifarResNet(name, width, in_channels, shortcut, residual)
            self.feature_dim = backbone.feature_dim
        else:
            backbone, self.feature_dim = _torchvision_backbone(name, stem, in_channels, residual)
        self.name, self.stem, self.in_channels, self.residual = name, stem, in_channels, residual
        self.width, self.shortcut = width, shortcut
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    def describe(self) -> dict:
        """What is needed to rebuild this encoder around an exported state_dict: ``width`` and
        ``shortcut`` only for a cifar_resnet, the one family that reads them."""
        description = {
            "name": self.name,
            "stem": self.stem,
            "in_channels": self.in_channels,
            "residual": self.residual,
        }
        if is_small_resnet(self.name):
            description.update(width=self.width, shortcut=self.shortcut)
        return {**description, "feature_dim": self.feature_dim}


def build_encoder(config: SimCLRConfig) -> Encoder:
    """The base encoder f a config describes: its network, stem (``auto`` resolved for the image
    size), channel count, width and shortcut, untrained."""
    # imported here: this file alone also loads where OmegaConf is absent (lightly's benchmarks)
    from simclr.data.config import resolved_channels

    architecture = config.encoder
    stem = resolved_stem(architecture.stem, architecture.name, config.data.image_size)
    return Encoder(
        architecture.name,
        stem,
        resolved_channels(config.data),
        architecture.residual,
        architecture.width,
        architecture.shortcut,
    )
