"""The ResNet paper's networks for small images, by depth: ResNet-20, 32, 44, 56, 110, 1202.

He et al. 2015, "Deep Residual Learning for Image Recognition", section 4.2 (the CIFAR-10
study): a 3x3 convolution with 16 filters, then three stages of n basic blocks (2n 3x3
convolutions each) on maps of side s, s/2 and s/4 with 16, 32 and 64 filters (stride 2 at the
first convolution of stages 2 and 3), then global average pooling: 6n + 2 weighted layers with
the classifier, n = 3, 5, 7, 9, 18, 200 in table 6 (0.27M to 19.4M parameters). Here without the
classifier: h is the 64-d pooled output (SimCLR section 2.1).

- ``width`` k multiplies every stage's filters (16k, 32k, 64k, so h is 64k-d), as Wide ResNets
  do (Zagoruyko and Komodakis 2016) and as SimCLR's figure 7 widens ResNet-50 (x2, x4).
- ``shortcut="A"``: the identity, the map subsampled and the new channels zero-padded where the
  shape changes; no parameters (section 3.3, option A, the paper's choice for CIFAR-10).
  ``shortcut="B"``: a 1x1 stride-2 convolution and BatchNorm where the shape changes, the
  identity elsewhere (option B).
- ``residual=False``: no shortcut at all, y = relu(F(x)): the plain twins of figure 6 (left).

The state_dict keys follow torchvision's ResNet: ``conv1``, ``bn1``, ``layer{1,2,3}.{i}.conv1``,
``bn1``, ``conv2``, ``bn2``, and ``layer{2,3}.0.shortcut.0`` (conv) and ``.1`` (BN) for option B.
It is not a torchvision network: an exported ``encoder.pt`` loads into this module.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

PREFIX = "cifar_resnet"
PAPER_DEPTHS = (20, 32, 44, 56, 110, 1202)  # table 6: n = 3, 5, 7, 9, 18, 200
SHORTCUTS = ("A", "B")
STAGE_FILTERS = (16, 32, 64)  # at width 1
# why a setting is refused (simclr.encoder and the config name the key)
STEM_FIXED = "cifar_resnet has its own stem, a 3x3 stride-1 convolution without pool: auto or small"
TORCHVISION_WIDTH = (
    "width multiplies the cifar_resnet filters; torchvision's wide_resnet50_2 is the wide "
    "torchvision ResNet"
)
TORCHVISION_SHORTCUT = (
    "shortcut chooses cifar_resnet's; torchvision's ResNets keep their own (1x1 projections)"
)
_NAME = re.compile(rf"{PREFIX}([1-9][0-9]*)")
_ALLOWED = f"allowed: {PREFIX}8, 14, 20, 26, ...; the paper's: {PREFIX}" + ", ".join(
    map(str, PAPER_DEPTHS)
)


def is_small_resnet(name: str) -> bool:
    """Whether ``name`` asks for one of these networks (a valid depth or not)."""
    return name.startswith(PREFIX)


def depth_refusal(name: str) -> str | None:
    """Why ``name`` is not ``cifar_resnet{D}`` with D = 6n + 2, n >= 1; None when it is."""
    match = _NAME.fullmatch(name)
    if match is None:
        return f"the depth after {PREFIX} must be a whole number 6n+2 ({_ALLOWED})"
    depth = int(match.group(1))
    if depth < 8 or (depth - 2) % 6:
        return f"depth {depth} is not 6n+2 for an integer n >= 1 ({_ALLOWED})"
    return None


def blocks_per_stage(name: str) -> int:
    """n of the network ``name``: its depth is 6n + 2 (section 4.2)."""
    refusal = depth_refusal(name)
    if refusal is not None:
        raise ValueError(f"encoder.name={name!r} is invalid: {refusal}")
    return (int(name[len(PREFIX) :]) - 2) // 6


class ZeroPadShortcut(nn.Module):
    """Option A where the shape changes (section 3.3): the map subsampled by ``stride`` and
    ``extra_channels`` zero channels appended; no parameters."""

    def __init__(self, extra_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels, self.stride = extra_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)


def _shortcut(in_channels: int, out_channels: int, stride: int, shortcut: str) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if shortcut == "A":
        return ZeroPadShortcut(out_channels - in_channels, stride)
    projection = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
    return nn.Sequential(projection, nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions, F(x) = bn2(conv2(relu(bn1(conv1(x))))), and y = relu(F(x) + x'),
    x' the shortcut of ``shortcut`` ("A" or "B"); ``shortcut=None``: the plain y = relu(F(x))."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, shortcut: str | None
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if shortcut is not None:
            self.shortcut = _shortcut(in_channels, out_channels, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return self.relu(y)


class CifarResNet(nn.Module):
    """The network ``cifar_resnet{6n+2}`` of He et al. 2015, section 4.2, without classifier:
    images (B, in_channels, H, W) -> h (B, 64 * width) after global average pooling."""

    def __init__(
        self,
        name: str = "cifar_resnet20",
        width: int = 1,
        in_channels: int = 3,
        shortcut: str = "A",
        residual: bool = True,
    ) -> None:
        super().__init__()
        blocks = blocks_per_stage(name)
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"encoder.width={width!r} is invalid: must be a whole number >= 1")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"encoder.shortcut={shortcut!r} is invalid: allowed: A, B")
        filters = [f * width for f in STAGE_FILTERS]
        self.conv1 = _conv3x3(in_channels, filters[0])
        self.bn1 = nn.BatchNorm2d(filters[0])
        self.relu = nn.ReLU(inplace=True)
        channels = filters[0]
        for stage, out_channels in enumerate(filters, start=1):
            layer = []
            for index in range(blocks):
                stride = 2 if stage > 1 and index == 0 else 1
                block_shortcut = shortcut if residual else None
                layer.append(BasicBlock(channels, out_channels, stride, block_shortcut))
                channels = out_channels
            setattr(self, f"layer{stage}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = filters[-1]
        self._initialize()

    def _initialize(self) -> None:
        """He et al. 2015b's normal init for convolutions (as section 3.4 and torchvision's
        ResNets), BatchNorm as the identity."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(images)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)
