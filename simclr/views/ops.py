"""The ops of t ~ T applied to a whole batch at once, each image with its own parameters.

Each op gives the image that the Kornia module of :func:`simclr.augment.build_augmentations`
gives for the same parameters (tests/simclr/views/test_ops.py holds them to 1e-5): the random
resized crop and the horizontal flip as one bilinear warp (Kornia's ``resample`` crop with
``align_corners=True``, the flip folded into the sampling grid); the colour jitter with Kornia
``ColorJitter``'s formulas and clamping; grayscale with ITU-R 601 weights; the Gaussian blur as
one separable, grouped convolution with a kernel per image (reflect border); solarization. An
image whose gate is off gets the identity: neutral factors, a unit-impulse kernel, or its own
pixels through ``torch.where``.

Written by hand with as few tensor ops as the formulas allow, because on a GPU each op is a
kernel launch that costs more than its arithmetic on small images, and Kornia's functions
dispatch several times the ops of these (counted with torch.profiler on a batch: ``adjust_hue``
275 aten ops against 51 here, the crop through ``affine_grid`` 157 against 31, the blur with
``get_gaussian_kernel1d`` 105 against 49): the hue rotation is the closed
form of HSV -> RGB (one expression for the three channels) rather than Kornia's sextant
selection, and the constants (sampling grid, kernel taps, luma weights) are built once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from simclr.views.parameters import ViewParameters, constant

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, Kornia's rgb_to_grayscale
HUE_OFFSETS = (5.0, 3.0, 1.0)  # R, G, B in HSV -> RGB's closed form f(n) = v - v s k(n + h)


def _column(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def sampling_grid(size: int) -> torch.Tensor:
    """(S, S, 2): the output pixels' (x, y) in [-1, 1] (align_corners); a constant of the views."""
    coordinates = torch.linspace(-1.0, 1.0, size)
    return torch.stack(
        [coordinates.expand(size, size), coordinates.view(size, 1).expand(size, size)], dim=-1
    )


def crop_and_flip(
    images: torch.Tensor, box: torch.Tensor, flip: torch.Tensor, grid: torch.Tensor
) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, S, S) with ``grid`` :func:`sampling_grid` (S): each box (x0, y0, w,
    h) resized by bilinear sampling, corner pixel centres on corner pixel centres, mirrored
    left-right where ``flip``: one sampling grid, one ``grid_sample``."""
    height, width = images.shape[-2:]
    device = box.device
    extent = constant((max(width - 1.0, 1.0), max(height - 1.0, 1.0)), device)
    one, mirror = constant((1.0,), device), constant((-1.0, 1.0), device)
    start, size = box[:, :2], box[:, 2:]
    # output coordinate u in [-1, 1] -> input coordinate a u + b in [-1, 1]
    scale = (size - one) / extent
    shift = torch.add(size, start, alpha=2).sub_(one).div_(extent).sub_(one)
    scale = scale * torch.where(flip[:, None], mirror, one)
    grid = torch.addcmul(shift[:, None, None, :], scale[:, None, None, :], grid)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def grey(images: torch.Tensor, luma: torch.Tensor) -> torch.Tensor:
    """Luma (B, 1, H, W) of RGB images (``luma`` the weights, shape (1, 3, 1, 1)); a
    one-channel image is its own."""
    if images.shape[1] != 3:
        return images
    return (images * luma).sum(dim=1, keepdim=True)


def brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """x b, clamped to [0, 1] (Kornia's ``adjust_brightness_accumulative``)."""
    return (images * _column(factor)).clamp_(0.0, 1.0)


def contrast(images: torch.Tensor, factor: torch.Tensor, luma: torch.Tensor) -> torch.Tensor:
    """x c + mean (1 - c) with the image's mean grey level, clamped (Kornia's
    ``adjust_contrast_with_mean_subtraction``)."""
    plane = grey(images, luma)
    pixels = constant((1.0 / plane[0].numel(),), images.device)
    mean = plane.sum(dim=(1, 2, 3), keepdim=True).mul_(pixels)
    return torch.lerp(mean, images, _column(factor)).clamp_(0.0, 1.0)


def saturation(images: torch.Tensor, factor: torch.Tensor, luma: torch.Tensor) -> torch.Tensor:
    """(1 - s) grey + s x, clamped (Kornia's ``adjust_saturation_with_gray_subtraction``);
    identity on one channel."""
    if images.shape[1] != 3:
        return images
    return torch.lerp(grey(images, luma), images, _column(factor)).clamp_(0.0, 1.0)


def hue(images: torch.Tensor, turns: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The hue rotated by ``turns`` of a full turn, saturation and value kept (Kornia's
    ``adjust_hue``); identity on one channel. ``offsets``: :func:`hue_offsets`.

    RGB -> HSV as Kornia computes it (hue in sixths of a turn from the first maximal channel),
    then the closed form of HSV -> RGB: channel n is v - v s clamp(min(k, 4 - k), 0, 1) with
    k = (n + 6 h) mod 6, where v s is the channel range."""
    if images.shape[1] != 3:
        return images
    two, four, six = (constant((value,), images.device) for value in (2.0, 4.0, 6.0))
    high, low = images.amax(dim=1, keepdim=True), images.amin(dim=1, keepdim=True)
    chroma = high - low
    r, g, b = images.split(1, dim=1)
    red_max = (r >= g) & (r >= b)
    sextant = torch.where(
        red_max,
        g - b,
        torch.where(g >= b, torch.addcmul(b - r, two, chroma), torch.addcmul(r - g, four, chroma)),
    )
    # chroma 0 means r = g = b and sextant 0: any positive divisor keeps it 0
    h = torch.addcmul(sextant / chroma.clamp(min=1e-20), _column(turns), six)
    k = torch.remainder(h + offsets, six)
    return torch.addcmul(high, chroma, torch.minimum(k, four - k).clamp_(0.0, 1.0), value=-1)


def jitter_rows(
    images: torch.Tensor, p: ViewParameters, rows: slice, order: Sequence[int], constants
) -> torch.Tensor:
    """Kornia's ``ColorJitter`` on the parameter rows ``rows``: brightness (0), contrast (1),
    saturation (2) and hue (3) in ``order``; an image whose gate is off gets neutral factors.
    ``constants``: the views' luma weights and hue offsets."""
    luma, offsets = constants
    factors = p.jitter_factors[rows]  # neutral where the gate is off
    for step in order:
        if step == 0:
            images = brightness(images, factors[:, 0])
        elif step == 1:
            images = contrast(images, factors[:, 1], luma)
        elif step == 2:
            images = saturation(images, factors[:, 2], luma)
        else:
            images = hue(images, factors[:, 3], offsets)
    return images


def jitter(images: torch.Tensor, p: ViewParameters, constants) -> torch.Tensor:
    """The colour jitter of every view, each group of rows (a view) in its own order."""
    n = images.shape[0] // len(p.orders)
    parts = [
        jitter_rows(images[g * n : (g + 1) * n], p, slice(g * n, (g + 1) * n), order, constants)
        for g, order in enumerate(p.orders)
    ]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def grayscale(images: torch.Tensor, apply: torch.Tensor, luma: torch.Tensor) -> torch.Tensor:
    """RGB images replaced by their luma in all three channels where ``apply``."""
    if images.shape[1] != 3:
        return images
    return torch.where(_column(apply), grey(images, luma), images)


def blur_taps(kernel_size: int) -> torch.Tensor:
    """Minus the squared offsets of a kernel's taps from its centre: a constant of the views."""
    return -((torch.arange(kernel_size, dtype=torch.float32) - kernel_size // 2) ** 2)


def gaussian_blur(
    images: torch.Tensor, taps: torch.Tensor, sigma: torch.Tensor, apply: torch.Tensor
) -> torch.Tensor:
    """A separable Gaussian blur, exp(-n^2 / 2 sigma^2) normalised, with each image's sigma and
    a reflect border, as one grouped convolution per axis; an image whose gate is off gets
    sigma 0, whose kernel is the unit impulse (Kornia's limit too). ``taps``: :func:`blur_taps`."""
    b, c, height, width = images.shape
    k = len(taps)
    half_huge = constant((0.5, 1e30), images.device)
    # 1 / (2 sigma^2); a huge one for sigma 0, so that only the centre tap stays exp(0) = 1
    precision = torch.where(apply, half_huge[:1] / (sigma * sigma), half_huge[1:])
    kernel = torch.exp(precision[:, None] * taps)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    kernel = kernel[:, None, :].expand(b, c, k).reshape(b * c, 1, 1, k)  # per (image, channel)
    pad = k // 2
    planes = F.pad(images.reshape(1, b * c, height, width), (pad, pad, pad, pad), mode="reflect")
    planes = F.conv2d(planes, kernel, groups=b * c)
    planes = F.conv2d(planes, kernel.view(b * c, 1, k, 1), groups=b * c)
    return planes.view(b, c, height, width)


def solarize(images: torch.Tensor, threshold: float, apply: torch.Tensor) -> torch.Tensor:
    """Pixels at or above ``threshold`` inverted (1 - x) where ``apply`` (SimCLR v2, BYOL)."""
    threshold_and_one = constant((threshold, 1.0), images.device)
    inverted = _column(apply) & (images >= threshold_and_one[:1])
    return torch.where(inverted, threshold_and_one[1:] - images, images)


def hue_offsets() -> torch.Tensor:
    """(1, 3, 1, 1): :data:`HUE_OFFSETS`, a constant of the views."""
    return torch.tensor(HUE_OFFSETS).view(1, 3, 1, 1)


def luma_weights() -> torch.Tensor:
    return torch.tensor(LUMA).view(1, 3, 1, 1)
