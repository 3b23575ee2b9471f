"""Every random choice of t ~ T for a batch of views, drawn in a few tensor calls.

The distributions are those of SimCLR appendix A as Kornia's augmentation modules draw them
(:func:`simclr.augment.build_augmentations`), so that the fused views of
:mod:`simclr.views.ops` are the same random variable: the random resized crop's ten candidate
(area, log aspect ratio) pairs per image with the first that fits taken and a centred fallback,
a uniform integer start; a Bernoulli gate per op and image; uniform jitter factors; one random
order of the four jitter steps per view of the batch, as Kornia draws one per call; a uniform
blur sigma. Kornia draws each module's parameters with a dozen calls of its own; here one
``torch.rand`` on the batch's device draws them all (hand-written because Kornia's generators
are per module, which is what made the views launch-bound on a GPU).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

CANDIDATES = 10  # crop candidates per image, as Kornia's and torchvision's RandomResizedCrop
JITTER_STEPS = 4  # brightness, contrast, saturation, hue (Kornia's order indices 0..3)
# columns of the one uniform draw: CANDIDATES areas, CANDIDATES log ratios, then one each
_X, _Y, _FLIP, _JITTER, _BRIGHT, _CONTRAST, _SATURATE, _HUE, _GREY, _BLUR, _SIGMA, _SOLAR = range(
    2 * CANDIDATES, 2 * CANDIDATES + 12
)
COLUMNS = 2 * CANDIDATES + 12


@functools.lru_cache(maxsize=256)
def constant(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """A float32 constant on ``device``, made once: no host-to-device copy per call (and none
    inside a CUDA graph capture, where a copy from pageable memory is not allowed). Also used
    for scalars: a Python number in a tensor op is wrapped into a tensor on every call."""
    return torch.tensor(values, dtype=torch.float32, device=device)


@dataclass(frozen=True)
class ViewDistribution:
    """The settings of t ~ T that parameters are drawn from (names as in appendix A)."""

    crop: bool = True
    crop_scale: Sequence[float] = (0.08, 1.0)
    crop_ratio: Sequence[float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    color_p: float = 0.8
    brightness: float = 0.8  # the jitter's half-widths: 0.8s, 0.8s, 0.8s, 0.2s
    contrast: float = 0.8
    saturation: float = 0.8
    hue: float = 0.2
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: Sequence[float] = (0.1, 2.0)
    solarize_p: float = 0.0


@dataclass
class ViewParameters:
    """One draw of t ~ T for each of B images: tensors of B rows on the batch's device.

    ``box`` holds (x0, y0, width, height) of each crop in input pixels. ``jitter_factors``
    (B, 4) holds brightness, contrast and saturation multipliers and the hue shift in turns,
    neutral (1, 1, 1, 0) where the jitter's gate is off; ``jitter`` is that gate. ``orders``
    holds one permutation of the jitter steps for each of ``len(orders)`` equal groups of rows
    (the views). The other gates are bool; ``sigma`` is the blur's.
    """

    box: torch.Tensor
    flip: torch.Tensor
    jitter: torch.Tensor
    jitter_factors: torch.Tensor
    orders: list[list[int]]
    grayscale: torch.Tensor
    blur: torch.Tensor
    sigma: torch.Tensor
    solarize: torch.Tensor

    def select(self, rows: torch.Tensor) -> ViewParameters:
        """The parameters of ``rows`` (indices, in order), the groups' jitter orders kept: for
        the views of some of the images, drawn with all of them."""
        taken = {f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name != "orders"}
        return ViewParameters(orders=self.orders, **taken)


def draw_crop_boxes(
    u: torch.Tensor, height: int, width: int, scale: Sequence[float], ratio: Sequence[float]
) -> torch.Tensor:
    """(B, 4) boxes (x0, y0, w, h) from uniforms ``u`` (B, >= 2 * CANDIDATES + 2), as Kornia's
    RandomResizedCrop: the first of ten (area, aspect) candidates that fits, else the largest
    centred box of an allowed aspect ratio (torchvision's fallback), at a uniform start."""
    device, pixels = u.device, height * width
    area = torch.lerp(
        constant((scale[0] * pixels,), device),
        constant((scale[1] * pixels,), device),
        u[:, :CANDIDATES],
    )
    log_ratio = constant((math.log(ratio[0]), math.log(ratio[1])), device)
    aspect = torch.exp(torch.lerp(log_ratio[:1], log_ratio[1:], u[:, CANDIDATES : 2 * CANDIDATES]))
    # (B, CANDIDATES, 2): width sqrt(area aspect) and height sqrt(area / aspect), rounded
    sizes = (area[..., None] * torch.stack([aspect, aspect.reciprocal()], dim=-1)).sqrt_()
    sizes = sizes.round_()
    limits = constant((width, height, 0.0), device)
    fits = ((sizes <= limits[:2]) & (sizes > limits[2:])).all(dim=-1)
    # the first candidate that fits: the largest of descending weights where it fits (or 0)
    first = (fits * constant(tuple(range(CANDIDATES, 0, -1)), device)).argmax(dim=1)
    size = sizes.gather(1, first.view(-1, 1, 1).expand(-1, 1, 2)).view(-1, 2)
    fallback = constant(_fallback_size(height, width, ratio), device)
    size = torch.where(fits.any(dim=1, keepdim=True), size, fallback)
    extent = constant((width + 1.0, height + 1.0), device)
    start = (u[:, _X : _Y + 1] * (extent - size)).floor_()
    return torch.cat([start, size], dim=1)


def _fallback_size(height: int, width: int, ratio: Sequence[float]) -> tuple[float, float]:
    in_ratio = width / height
    if in_ratio < min(ratio):
        return float(width), float(math.floor(round(width / min(ratio))))
    if in_ratio > max(ratio):
        return float(math.floor(round(height * max(ratio)))), float(height)
    return float(width), float(height)


def _probabilities(d: ViewDistribution) -> tuple[float, ...]:
    """The gates' probabilities, in the columns' order from _FLIP (the factors' columns: 2)."""
    return (d.flip_p, d.color_p, 2.0, 2.0, 2.0, 2.0, d.grayscale_p, d.blur_p, 2.0, d.solarize_p)


def draw_view_parameters(
    distribution: ViewDistribution,
    batch: int,
    height: int,
    width: int,
    device: torch.device | str = "cpu",
    groups: int = 1,
) -> ViewParameters:
    """Parameters of ``batch`` independent views of (height, width) images, split into
    ``groups`` equal groups that each get their own jitter order (a view of the batch each)."""
    d = distribution
    u = torch.rand(batch, COLUMNS, device=device)
    if d.crop:
        box = draw_crop_boxes(u, height, width, d.crop_scale, d.crop_ratio)
    else:
        box = constant((0.0, 0.0, float(width), float(height)), u.device).expand(batch, 4)
    gates = u[:, _FLIP:] < constant(_probabilities(d), u.device)
    low = (max(0.0, 1 - d.brightness), max(0.0, 1 - d.contrast), max(0.0, 1 - d.saturation))
    high = (1 + d.brightness, 1 + d.contrast, 1 + d.saturation, d.hue)
    factors = torch.lerp(
        constant((*low, -d.hue), u.device), constant(high, u.device), u[:, _BRIGHT : _HUE + 1]
    )
    jitter = gates[:, _JITTER - _FLIP]
    factors = torch.where(jitter[:, None], factors, constant((1.0, 1.0, 1.0, 0.0), u.device))
    sigma = constant(tuple(d.blur_sigma), u.device)
    # one order per group, from torch's CPU generator: the order decides which kernels run
    orders = [torch.randperm(JITTER_STEPS).tolist() for _ in range(groups)]
    return ViewParameters(
        box=box,
        flip=gates[:, 0],
        jitter=jitter,
        jitter_factors=factors,
        orders=orders,
        grayscale=gates[:, _GREY - _FLIP],
        blur=gates[:, _BLUR - _FLIP],
        sigma=torch.lerp(sigma[:1], sigma[1:], u[:, _SIGMA]),
        solarize=gates[:, _SOLAR - _FLIP],
    )
