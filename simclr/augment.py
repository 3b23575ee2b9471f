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
from typing import Any

import kornia.augmentation as K
import torch
from torch import nn

from simclr.config.schema import AugmentConfig
from simclr.data.registry import IMAGENET_MEAN, IMAGENET_STD
from simclr.preprocess import Normalize, to_unit_float


def blur_kernel_size(image_size: int, kernel_fraction: float) -> int:
    """The odd kernel side closest to ``kernel_fraction * image_size``, at least 3."""
    side = round(kernel_fraction * image_size)
    if side % 2 == 0:
        side += 1
    return max(3, side)


def view_options(config: AugmentConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`build_augmentations` that an ``augment`` config section
    sets; an op switched off gets probability 0 (the crop: ``crop=False``)."""

    def p(section) -> float:
        return section.p if section.enabled else 0.0

    return {
        "crop": config.crop.enabled,
        "crop_scale": tuple(config.crop.scale),
        "crop_ratio": tuple(config.crop.ratio),
        "flip_p": p(config.flip),
        "color_p": p(config.color),
        "color_strength": config.color.strength,
        "grayscale_p": p(config.grayscale),
        "blur_p": p(config.blur),
        "blur_kernel_fraction": config.blur.kernel_fraction,
        "blur_sigma": tuple(config.blur.sigma),
        "solarize_p": p(config.solarize),
        "solarize_threshold": config.solarize.threshold,
    }


def build_augmentations(
    image_size: int,
    channels: int,
    *,
    crop: bool = True,
    crop_scale: Sequence[float] = (0.08, 1.0),
    crop_ratio: Sequence[float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
    color_p: float = 0.8,
    color_strength: float = 1.0,
    grayscale_p: float = 0.2,
    blur_p: float = 0.5,
    blur_kernel_fraction: float = 0.1,
    blur_sigma: Sequence[float] = (0.1, 2.0),
    solarize_p: float = 0.0,
    solarize_threshold: float = 0.5,
) -> nn.Sequential:
    """The random ops of t ~ T for ``channels``-channel images of side ``image_size``; an op
    whose probability (or colour strength) is 0 is left out."""
    ops: list[nn.Module] = []
    if crop:
        size = (image_size, image_size)
        # resample: one batched warp; Kornia's default (slice) loops over the images, which on a
        # GPU made the augmentations 2x the step (benchmarks/results/augment_cuda_h200.json)
        ops.append(
            K.RandomResizedCrop(
                size, scale=tuple(crop_scale), ratio=tuple(crop_ratio), cropping_mode="resample"
            )
        )
    if flip_p > 0:
        ops.append(K.RandomHorizontalFlip(p=flip_p))
    if color_p > 0 and color_strength > 0:
        s = color_strength
        colour = 0.8 * s if channels == 3 else 0.0
        hue = 0.2 * s if channels == 3 else 0.0
        ops.append(K.ColorJitter(0.8 * s, 0.8 * s, colour, hue, p=color_p))
    if grayscale_p > 0 and channels == 3:
        ops.append(K.RandomGrayscale(p=grayscale_p))
    if blur_p > 0:
        kernel = blur_kernel_size(image_size, blur_kernel_fraction)
        ops.append(K.RandomGaussianBlur(kernel, tuple(blur_sigma), p=blur_p))
    if solarize_p > 0:
        threshold = (solarize_threshold, solarize_threshold)
        ops.append(K.RandomSolarize(thresholds=threshold, additions=0.0, p=solarize_p))
    return nn.Sequential(*ops)


class SimCLRViews(nn.Module):
    """Two independently augmented, normalised views of a batch (B, C, H, W): t(x), t'(x) with
    t, t' ~ T (SimCLR section 3, figure 2; the ops and defaults of appendix A).

    Keyword arguments carry the paper's names and defaults: ``crop_scale`` (0.08, 1) and
    ``crop_ratio`` (3/4, 4/3) of the random resized crop, ``flip_p`` 0.5, the colour distortion
    of strength ``color_strength`` s (jitter 0.8s, 0.8s, 0.8s, 0.2s) applied with ``color_p``
    0.8, ``grayscale_p`` 0.2, Gaussian blur with ``blur_p`` 0.5, a kernel of
    ``blur_kernel_fraction`` 10% of the side and sigma in ``blur_sigma`` (0.1, 2.0); optional
    solarization (``solarize_p``, SimCLR v2). ``mean``/``std`` default to ImageNet's (their
    average for one channel). :meth:`from_config` builds the same from an ``augment`` section.

    Input: uint8 in [0, 255] or float in [0, 1], on any device. Output: two float32 tensors of
    shape (B, C, image_size, image_size) on the same device.
    """

    def __init__(
        self,
        image_size: int = 224,
        channels: int = 3,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        normalize: bool = True,
        **options: Any,
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.channels = channels
        self.augment = build_augmentations(image_size, channels, **options)
        mean = list(mean) if mean is not None else _imagenet(IMAGENET_MEAN, channels)
        std = list(std) if std is not None else _imagenet(IMAGENET_STD, channels)
        self.normalize = Normalize(mean, std, enabled=normalize)

    @classmethod
    def from_config(
        cls,
        config: AugmentConfig,
        image_size: int,
        channels: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> SimCLRViews:
        """The views an ``augment`` config section describes."""
        normalize = config.normalize.enabled
        options = view_options(config)
        return cls(image_size, channels, mean=mean, std=std, normalize=normalize, **options)

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


def _imagenet(statistics: Sequence[float], channels: int) -> list[float]:
    return list(statistics) if channels == 3 else [sum(statistics) / len(statistics)]
