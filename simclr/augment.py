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

Two pipelines give the same random variable. ``fused`` (the default) draws every parameter of
both views in one call (:mod:`simclr.views.parameters`) and applies each op once to the 2B
images, Kornia's formulas written for few tensor ops (:mod:`simclr.views.ops`). ``modules``
chains Kornia's augmentation modules (:func:`build_augmentations`), each drawing its own
parameters and launching its own kernels, which made the views launch-bound on a GPU. Both run
batched on whatever device the batch is on, draw independently for each image and each view
from torch's RNG, and are reproduced by ``torch.manual_seed``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import nn

from simclr.config.augment import VIEW_PIPELINES, AugmentConfig
from simclr.data.registry import IMAGENET_MEAN, IMAGENET_STD
from simclr.preprocess import Normalize, to_unit_float
from simclr.views import ops as view_ops
from simclr.views.capture import capture_of
from simclr.views.kornia_modules import (  # noqa: F401 (re-exported: the views' public helpers)
    _OPTION_NAMES,
    blur_kernel_size,
    build_augmentations,
    view_distribution,
    view_options,
)
from simclr.views.parameters import ViewParameters, draw_view_parameters


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

    ``pipeline="fused"`` (the default) draws every parameter of both views in one call and
    applies each op once to all 2B images (:mod:`simclr.views.ops`): about 10x fewer tensor ops
    than ``"modules"``, the Kornia modules one after the other (:mod:`simclr.views.kornia_modules`),
    which give the same images for the same parameters. ``capture`` replays the fused views as
    CUDA graphs on a GPU (:mod:`simclr.views.capture`); ``"auto"`` does so on CUDA, else eagerly.

    ``views`` sets how many views of every image are made (2, the paper's t and t', unless
    more are contrasted: :func:`simclr.loss.multi_view_nt_xent_loss`).

    Input: uint8 in [0, 255] or float in [0, 1], on any device. Output: a tuple of ``views``
    float32 tensors of shape (B, C, image_size, image_size) on the same device.
    """

    def __init__(
        self,
        image_size: int = 224,
        channels: int = 3,
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
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        normalize: bool = True,
        pipeline: str = "fused",
        capture: str = "auto",
        views: int = 2,
    ) -> None:
        super().__init__()
        if pipeline not in VIEW_PIPELINES:
            allowed = ", ".join(VIEW_PIPELINES)
            raise ValueError(f"pipeline={pipeline!r}: expected one of {allowed}")
        if views < 1:
            raise ValueError(f"views={views}: must be >= 1")
        self.image_size, self.channels, self.pipeline = image_size, channels, pipeline
        self.count = views  # views of every image
        options = {k: v for k, v in locals().items() if k in _OPTION_NAMES}
        self.augment = build_augmentations(image_size, channels, **options)
        self.distribution = view_distribution(channels, options)
        self.solarize_threshold = solarize_threshold
        # the fused ops' constants, built once; not state: checkpoints do not hold them
        kernel = blur_kernel_size(image_size, blur_kernel_fraction)
        self.register_buffer("blur_taps", view_ops.blur_taps(kernel), persistent=False)
        grid = view_ops.sampling_grid(image_size)
        self.register_buffer("sampling_grid", grid, persistent=False)
        self.register_buffer("luma", view_ops.luma_weights(), persistent=False)
        self.register_buffer("hue_offsets", view_ops.hue_offsets(), persistent=False)
        mean = list(mean) if mean is not None else _imagenet(IMAGENET_MEAN, channels)
        std = list(std) if std is not None else _imagenet(IMAGENET_STD, channels)
        self.normalize = Normalize(mean, std, enabled=normalize)
        self.capture = capture_of(capture)

    @classmethod
    def from_config(
        cls,
        config: AugmentConfig,
        image_size: int,
        channels: int,
        mean: Sequence[float],
        std: Sequence[float],
        views: int = 2,
    ) -> SimCLRViews:
        """``views`` views of every image at ``image_size``, made as an ``augment`` config
        section describes."""
        options = view_options(config)
        normalize = config.normalize.enabled
        return cls(
            image_size,
            channels,
            mean=mean,
            std=std,
            normalize=normalize,
            pipeline=config.pipeline,
            capture=config.capture,
            views=views,
            **options,
        )

    def resized(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] floats at ``image_size`` where no crop resizes them."""
        images = to_unit_float(images)
        if images.shape[-2:] != (self.image_size, self.image_size) and not self.distribution.crop:
            images = nn.functional.interpolate(
                images, size=(self.image_size, self.image_size), mode="bilinear", antialias=True
            )
        return images

    def view(self, images: torch.Tensor) -> torch.Tensor:
        """One view with the Kornia modules: a fresh draw of t ~ T for every image."""
        return self.normalize(self.augment(self.resized(images)).clamp_(0.0, 1.0))

    def draw(self, images: torch.Tensor, groups: int | None = None) -> ViewParameters:
        """Parameters of ``groups`` (default: all) views of every image of ``images``, in one
        draw."""
        groups = self.count if groups is None else groups
        height, width = images.shape[-2:]
        rows = groups * images.shape[0]
        return draw_view_parameters(self.distribution, rows, height, width, images.device, groups)

    def geometry(self, images: torch.Tensor, params: ViewParameters) -> torch.Tensor:
        """The crop and flip of each view: (B, C, H, W) floats -> (groups * B, C, S, S)."""
        images = torch.cat([images] * len(params.orders))
        d = self.distribution
        if d.crop:
            return view_ops.crop_and_flip(images, params.box, params.flip, self.sampling_grid)
        if d.flip_p > 0:  # no crop: the mirror image exactly, without resampling
            return torch.where(params.flip.view(-1, 1, 1, 1), images.flip(-1), images)
        return images

    def jitter_group(
        self, views: torch.Tensor, params: ViewParameters, group: int, order: Sequence[int]
    ) -> None:
        """The colour jitter of view ``group``, in ``order``, in place (a captured step)."""
        n = views.shape[0] // len(params.orders)
        rows = slice(group * n, (group + 1) * n)
        constants = (self.luma, self.hue_offsets)
        views[rows] = view_ops.jitter_rows(views[rows], params, rows, order, constants)

    def finish(self, views: torch.Tensor, params: ViewParameters) -> torch.Tensor:
        """Grayscale, blur, solarization, each once on every view, then normalisation."""
        d = self.distribution
        if d.grayscale_p > 0:
            views = view_ops.grayscale(views, params.grayscale, self.luma)
        if d.blur_p > 0:
            views = view_ops.gaussian_blur(views, self.blur_taps, params.sigma, params.blur)
        if d.solarize_p > 0:
            views = view_ops.solarize(views, self.solarize_threshold, params.solarize)
        return self.normalize(views.clamp(0.0, 1.0))

    def fused(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every view of every image in one pass over the views' rows."""
        images = self.resized(images)
        return self.made(images, self.draw(images))

    def made(self, images: torch.Tensor, p: ViewParameters) -> tuple[torch.Tensor, ...]:
        """The views of ``images`` (resized) with the parameters ``p`` of their rows (view 1 of
        every image, then view 2, ...)."""
        views = self.geometry(images, p)
        if self.distribution.color_p > 0:
            views = view_ops.jitter(views, p, (self.luma, self.hue_offsets))
        return self.finish(views, p).chunk(len(p.orders))

    def fused_in_chunks(self, images: torch.Tensor, chunk_size: int) -> tuple[torch.Tensor, ...]:
        """The views :meth:`fused` makes, from the same one draw for all rows, each op applied
        ``chunk_size`` images at a time: the intermediates take the memory of one chunk (a
        large batch trained in chunks, :mod:`simclr.chunked`), the views themselves that of
        the batch."""
        n, count = images.shape[0], self.count
        first = self.resized(images[:1])
        p = draw_view_parameters(
            self.distribution, count * n, *first.shape[-2:], device=images.device, groups=count
        )
        views: list[torch.Tensor] = []
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            own = torch.arange(start, stop, device=images.device)
            rows = torch.cat([own + group * n for group in range(count)])
            made = self.made(self.resized(images[start:stop]), p.select(rows))
            if not views:
                views = [one.new_empty((n, *one.shape[1:])) for one in made]
            for view, one in zip(views, made):
                view[start:stop] = one
        return tuple(views)

    @torch.no_grad()
    def forward(
        self, images: torch.Tensor, chunk_size: int | None = None
    ) -> tuple[torch.Tensor, ...]:
        """t(x), t'(x) (and further views) of every image; with ``chunk_size`` (the fused
        views) the same views made that many images at a time, eagerly."""
        if images.dim() != 4 or images.shape[1] != self.channels:
            raise ValueError(
                f"expected images of shape (B, {self.channels}, H, W), got {tuple(images.shape)}"
            )
        if self.pipeline == "modules":
            return tuple(self.view(images) for _ in range(self.count))
        if chunk_size is not None and chunk_size < images.shape[0]:
            return self.fused_in_chunks(images, chunk_size)  # eagerly: no graph of the batch
        if self.capture is not None:
            return self.capture(self, images)
        return self.fused(images)


class MultiCropViews(nn.Module):
    """SwAV's multi-crop (Caron et al. 2020, section 3.2) for SimCLR: the views of ``views``
    followed by those of ``small``, crops of a smaller part of the image made at a smaller side
    (cheap to embed). Validation images are normalised as ``views`` does."""

    def __init__(self, views: SimCLRViews, small: SimCLRViews) -> None:
        super().__init__()
        self.views, self.small = views, small

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return self.views.normalize(images)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (*self.views(images), *self.small(images))


def build_views(
    config: AugmentConfig,
    image_size: int,
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> SimCLRViews | MultiCropViews:
    """The pretraining views an ``augment`` section describes for images of ``image_size``:
    ``augment.views`` views at ``augment.view_size`` (null: ``image_size``), then any small
    views (``augment.small_views``)."""
    side = config.view_size or image_size
    views = SimCLRViews.from_config(config, side, channels, mean, std, views=config.views)
    small = config.small_views
    if small.count == 0:
        return views
    cropped = dataclasses.replace(config, crop=dataclasses.replace(config.crop, scale=small.scale))
    small_views = SimCLRViews.from_config(
        cropped, small.side(side), channels, mean, std, views=small.count
    )
    return MultiCropViews(views, small_views)


def _imagenet(statistics: Sequence[float], channels: int) -> list[float]:
    return list(statistics) if channels == 3 else [sum(statistics) / len(statistics)]
