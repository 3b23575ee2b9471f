"""The stochastic data augmentation t ~ T that makes two views of every image (SimCLR section 3).

The ops and their defaults follow SimCLR appendix A: random resized crop (scale 0.08 to 1,
aspect ratio 3/4 to 4/3), horizontal flip (p = 0.5), colour jitter with strength s
(brightness, contrast, saturation 0.8s, hue 0.2s; applied with p = 0.8), random grayscale
(p = 0.2), Gaussian blur (p = 0.5, kernel about 10% of the image side, sigma in [0.1, 2.0]),
optionally solarization (SimCLR v2 / BYOL), then normalisation. Each op can be switched off and
each probability and strength comes from :class:`simclr.config.AugmentConfig`.

Grayscale data (one channel, e.g. Fashion-MNIST): saturation and hue have no meaning for a
single channel and random grayscale is the identity, so the colour distortion keeps only its
brightness and contrast jitter (0.8s each, p as configured) and grayscale is skipped. Images are
never copied to three channels, which would only triple the encoder's first-layer cost.

All ops are Kornia modules: they run batched on whatever device the batch is on, and draw
their random parameters independently for each image and each view from torch's RNG, so
``torch.manual_seed`` reproduces them.
"""

from __future__ import annotations

from collections.abc import Sequence

import kornia.augmentation as K
import torch
from torch import nn

from simclr.config.schema import AugmentConfig
from simclr.preprocess import Normalize, to_unit_float


def blur_kernel_size(image_size: int, kernel_fraction: float) -> int:
    """The odd kernel side closest to ``kernel_fraction * image_size``, at least 3."""
    side = round(kernel_fraction * image_size)
    if side % 2 == 0:
        side += 1
    return max(3, side)


def build_augmentations(config: AugmentConfig, image_size: int, channels: int) -> nn.Sequential:
    """The random ops of t ~ T for ``channels``-channel images of side ``image_size``."""
    ops: list[nn.Module] = []
    if config.crop.enabled:
        ops.append(
            K.RandomResizedCrop(
                (image_size, image_size),
                scale=tuple(config.crop.scale),
                ratio=tuple(config.crop.ratio),
            )
        )
    if config.flip.enabled and config.flip.p > 0:
        ops.append(K.RandomHorizontalFlip(p=config.flip.p))
    if config.color.enabled and config.color.p > 0 and config.color.strength > 0:
        s = config.color.strength
        colour = 0.8 * s if channels == 3 else 0.0
        hue = 0.2 * s if channels == 3 else 0.0
        ops.append(K.ColorJitter(0.8 * s, 0.8 * s, colour, hue, p=config.color.p))
    if config.grayscale.enabled and config.grayscale.p > 0 and channels == 3:
        ops.append(K.RandomGrayscale(p=config.grayscale.p))
    if config.blur.enabled and config.blur.p > 0:
        kernel = blur_kernel_size(image_size, config.blur.kernel_fraction)
        ops.append(K.RandomGaussianBlur(kernel, tuple(config.blur.sigma), p=config.blur.p))
    if config.solarize.enabled and config.solarize.p > 0:
        threshold = (config.solarize.threshold, config.solarize.threshold)
        ops.append(K.RandomSolarize(thresholds=threshold, additions=0.0, p=config.solarize.p))
    return nn.Sequential(*ops)


class SimCLRViews(nn.Module):
    """Two independently augmented, normalised views of a batch (B, C, H, W).

    Input: uint8 in [0, 255] or float in [0, 1], on any device. Output: two float32 tensors of
    shape (B, C, image_size, image_size) on the same device.
    """

    def __init__(
        self,
        config: AugmentConfig,
        image_size: int,
        channels: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.channels = channels
        self.augment = build_augmentations(config, image_size, channels)
        self.normalize = Normalize(mean, std, enabled=config.normalize.enabled)

    def view(self, images: torch.Tensor) -> torch.Tensor:
        """One view: a fresh draw of t ~ T for every image, then normalisation."""
        images = to_unit_float(images)
        if images.shape[-2:] != (self.image_size, self.image_size) and not self._crops():
            images = nn.functional.interpolate(
                images, size=(self.image_size, self.image_size), mode="bilinear", antialias=True
            )
        return self.normalize(self.augment(images).clamp_(0.0, 1.0))

    def _crops(self) -> bool:
        return any(isinstance(op, K.RandomResizedCrop) for op in self.augment)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.dim() != 4 or images.shape[1] != self.channels:
            raise ValueError(
                f"expected images of shape (B, {self.channels}, H, W), got {tuple(images.shape)}"
            )
        return self.view(images), self.view(images)
