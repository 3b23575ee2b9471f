"""Kornia's augmentation modules for t ~ T, and the settings both view pipelines share.

:func:`build_augmentations` chains one Kornia module per op of SimCLR appendix A (the
``modules`` pipeline of :class:`simclr.augment.SimCLRViews`, and the reference that the fused
ops are tested against); :func:`view_distribution` is the same distribution for the fused
pipeline's one draw (:mod:`simclr.views.parameters`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import kornia.augmentation as K
from torch import nn

from simclr.config.augment import AugmentConfig
from simclr.views.parameters import ViewDistribution


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


def view_distribution(channels: int, options: dict[str, Any]) -> ViewDistribution:
    """The distribution that :func:`build_augmentations` with these keyword ``options`` (all of
    ``_OPTION_NAMES``) draws from, for the fused pipeline; an op left out there has probability
    0 here (one channel: no saturation, hue or grayscale)."""
    s, rgb = options["color_strength"], channels == 3
    return ViewDistribution(
        crop=options["crop"],
        crop_scale=tuple(options["crop_scale"]),
        crop_ratio=tuple(options["crop_ratio"]),
        flip_p=options["flip_p"],
        color_p=options["color_p"] if s > 0 else 0.0,
        brightness=0.8 * s,
        contrast=0.8 * s,
        saturation=0.8 * s if rgb else 0.0,
        hue=0.2 * s if rgb else 0.0,
        grayscale_p=options["grayscale_p"] if rgb else 0.0,
        blur_p=options["blur_p"],
        blur_sigma=tuple(options["blur_sigma"]),
        solarize_p=options["solarize_p"],
    )


def build_augmentations(
    image_size: int,
    channels: int,
    *,
    crop: bool,
    crop_scale: Sequence[float],
    crop_ratio: Sequence[float],
    flip_p: float,
    color_p: float,
    color_strength: float,
    grayscale_p: float,
    blur_p: float,
    blur_kernel_fraction: float,
    blur_sigma: Sequence[float],
    solarize_p: float,
    solarize_threshold: float,
) -> nn.Sequential:
    """The random ops of t ~ T for ``channels``-channel images of side ``image_size``; an op
    whose probability (or colour strength) is 0 is left out. The paper's defaults are
    :class:`simclr.augment.SimCLRViews`' (one place)."""
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


# the keyword options of the views (view_options' keys): build_augmentations' keyword arguments
_OPTION_NAMES = tuple(inspect.signature(build_augmentations).parameters)[2:]
