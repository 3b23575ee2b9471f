"""The ``augment`` section of a config: the stochastic augmentation t ~ T of SimCLR appendix A,
one subsection per op (crop, flip, colour jitter, grayscale, blur, solarize, normalise), each
checking its own values, and how the views are computed (``pipeline``, ``capture``).
:mod:`simclr.config.schema` includes it as ``SimCLRConfig.augment``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simclr.errors import check_choice, check_probability, check_range, require

VIEW_PIPELINES = ("fused", "modules")  # simclr.augment
VIEW_CAPTURES = ("auto", "cuda_graph", "none")  # simclr.views.capture


@dataclass
class CropConfig:
    enabled: bool = True
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])  # paper: [0.08, 1.0]
    ratio: list[float] = field(default_factory=lambda: [3 / 4, 4 / 3])

    def check(self) -> None:
        check_range("augment.crop.scale", self.scale, 0.0, 1.0, low_open=True)
        check_range("augment.crop.ratio", self.ratio, 0.0, math.inf, low_open=True)


@dataclass
class FlipConfig:
    enabled: bool = True
    p: float = 0.5

    def check(self) -> None:
        check_probability("augment.flip.p", self.p)


@dataclass
class ColorJitterConfig:
    enabled: bool = True
    p: float = 0.8
    strength: float = 1.0  # s in the paper: jitter (0.8s, 0.8s, 0.8s, 0.2s)

    def check(self) -> None:
        check_probability("augment.color.p", self.p)
        require(self.strength >= 0, "augment.color.strength", self.strength, "must be >= 0")
        allowed = "must be <= 2.5 (hue jitter 0.2s cannot exceed 0.5)"
        require(self.strength * 0.2 <= 0.5, "augment.color.strength", self.strength, allowed)


@dataclass
class GrayscaleConfig:
    enabled: bool = True
    p: float = 0.2

    def check(self) -> None:
        check_probability("augment.grayscale.p", self.p)


@dataclass
class BlurConfig:
    enabled: bool = True
    p: float = 0.5
    kernel_fraction: float = 0.1  # kernel side as a fraction of the image side (made odd, >= 3)
    sigma: list[float] = field(default_factory=lambda: [0.1, 2.0])

    def check(self) -> None:
        check_probability("augment.blur.p", self.p)
        fraction = self.kernel_fraction
        require(0 < fraction <= 1, "augment.blur.kernel_fraction", fraction, "must be in (0, 1]")
        check_range("augment.blur.sigma", self.sigma, 0.0, math.inf, low_open=True)


@dataclass
class SolarizeConfig:
    enabled: bool = False
    p: float = 0.2
    threshold: float = 0.5  # pixels above this (in [0, 1]) are inverted

    def check(self) -> None:
        check_probability("augment.solarize.p", self.p)
        check_probability("augment.solarize.threshold", self.threshold)


@dataclass
class NormalizeConfig:
    enabled: bool = True
    mean: list[float] | None = None  # null: the dataset's registered statistics
    std: list[float] | None = None

    def check(self, section: str = "augment.normalize") -> None:
        for key in ("mean", "std"):
            value = getattr(self, key)
            allowed = "must be null or a list of 1 or 3 numbers"
            require(value is None or len(value) in (1, 3), f"{section}.{key}", value, allowed)
        if self.std is not None:
            positive = all(s > 0 for s in self.std)
            require(positive, f"{section}.std", self.std, "must be > 0")


@dataclass
class SmallViewsConfig:
    """SwAV's multi-crop (Caron et al. 2020, section 3.2) applied to SimCLR: ``count`` extra
    views of every image, cropped from a small part of it (``scale``) and made at a small side
    (``size``), cheap to embed, contrasted with every other view of the same image."""

    count: int = 0  # small views per image; 0: none (the paper's two views only)
    size: int | None = None  # side in pixels; null: 96/224 of the views' side, SwAV's ratio
    scale: list[float] = field(default_factory=lambda: [0.05, 0.14])  # SwAV's small crops

    def check(self) -> None:
        require(self.count >= 0, "augment.small_views.count", self.count, "must be >= 0")
        size = self.size
        require(size is None or size >= 4, "augment.small_views.size", size, "must be null or >= 4")
        check_range("augment.small_views.scale", self.scale, 0.0, 1.0, low_open=True)

    def side(self, view_size: int) -> int:
        """The small views' side where the views are ``view_size`` pixels."""
        return self.size if self.size is not None else max(4, round(view_size * 96 / 224))


@dataclass
class AugmentConfig:
    crop: CropConfig = field(default_factory=CropConfig)
    flip: FlipConfig = field(default_factory=FlipConfig)
    color: ColorJitterConfig = field(default_factory=ColorJitterConfig)
    grayscale: GrayscaleConfig = field(default_factory=GrayscaleConfig)
    blur: BlurConfig = field(default_factory=BlurConfig)
    solarize: SolarizeConfig = field(default_factory=SolarizeConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    # views of every image at view_size: 2 is the paper; more are all contrasted with each
    # other (each positive against the other images' views, simclr.loss.multi_view_nt_xent_loss)
    views: int = 2
    view_size: int | None = None  # side of the pretraining views; null: data.image_size
    small_views: SmallViewsConfig = field(default_factory=SmallViewsConfig)
    # fused: every parameter drawn at once, each op applied once to both views (few launches);
    # modules: Kornia's augmentation modules one after the other (the same distribution)
    pipeline: str = "fused"
    # auto: the fused views replayed as CUDA graphs on a GPU, eager elsewhere; none: eager
    capture: str = "auto"

    def check(self) -> None:
        for section in (self.crop, self.flip, self.color, self.grayscale, self.blur):
            section.check()
        self.solarize.check()
        self.normalize.check()
        require(self.views >= 2, "augment.views", self.views, "must be >= 2")
        size = self.view_size
        require(size is None or size >= 4, "augment.view_size", size, "must be null or >= 4")
        self.small_views.check()
        check_choice("augment.pipeline", self.pipeline, VIEW_PIPELINES)
        check_choice("augment.capture", self.capture, VIEW_CAPTURES)
