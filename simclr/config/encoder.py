"""The ``encoder`` section of a config: the base encoder f (SimCLR section 2.1), a torchvision
network or one of the ResNet paper's small-image networks (:mod:`simclr.small_resnets`), its
stem, its shortcuts and, for the small networks, their width and shortcut option.
:mod:`simclr.config.schema` includes it as ``SimCLRConfig.encoder``.
"""

from __future__ import annotations

from dataclasses import dataclass

from simclr.backbones import ENCODERS, FAMILIES, SMALL_RESNET, encoder_spec
from simclr.errors import check_choice, require
from simclr.small_resnets import (
    SHORTCUTS,
    STAGE_FILTERS,
    STEM_FIXED,
    TORCHVISION_SHORTCUT,
    TORCHVISION_WIDTH,
    blocks_per_stage,
    depth_refusal,
    is_small_resnet,
)

STEMS = ("standard", "small", "strided", "pooled")
MAX_ENCODER_WEIGHTS = 2**30  # 4 GiB of float32 weights: beyond the largest torchvision network


@dataclass
class EncoderConfig:
    # a key of simclr.backbones.ENCODERS, or cifar_resnet{6n+2} of any depth (simclr.small_resnets)
    name: str = "resnet18"
    # standard (7x7/2 conv + max-pool), small (3x3/1, no pool), strided (3x3/2, no pool),
    # pooled (3x3/1 + max-pool), or auto: pooled below 64 px where the backbone has a stem
    # max-pool (the most accuracy per CPU-minute on 28 px, docs/performance.md), else standard;
    # small for cifar_resnet, whose own stem is the only one
    stem: str = "auto"
    residual: bool = True  # false removes every shortcut: the ResNet paper's plain network
    width: int = 1  # k: cifar_resnet's 16k, 32k, 64k filters (h is 64k-d); 1 for torchvision
    # cifar_resnet where the shape changes: A zero-pads the identity (no parameters), B projects
    shortcut: str = "A"

    def check(self) -> None:
        self._check_name()
        check_choice("encoder.stem", self.stem, ("auto", *STEMS))
        require(self.width >= 1, "encoder.width", self.width, "must be >= 1")
        check_choice("encoder.shortcut", self.shortcut, SHORTCUTS)
        if encoder_spec(self.name).family == SMALL_RESNET:
            require(self.stem in ("auto", "small"), "encoder.stem", self.stem, STEM_FIXED)
            self._check_size()
            return
        require(self.width == 1, "encoder.width", self.width, TORCHVISION_WIDTH)
        require(self.shortcut == "A", "encoder.shortcut", self.shortcut, TORCHVISION_SHORTCUT)
        if self.stem == "pooled":
            family = FAMILIES[ENCODERS[self.name].family]
            has_pool = family.stem_pool is not None
            require(has_pool, "encoder.stem", "pooled", f"{self.name} has no stem max-pool to keep")
        if not self.residual:
            is_resnet = ENCODERS[self.name].family == "resnet"
            require(is_resnet, "encoder.residual", False, "residual=false needs a ResNet encoder")

    def _check_name(self) -> None:
        if is_small_resnet(self.name):
            refusal = depth_refusal(self.name)
            require(refusal is None, "encoder.name", self.name, str(refusal))
        else:
            check_choice("encoder.name", self.name, sorted(ENCODERS))

    def _check_size(self) -> None:
        """Refuse a small ResNet too large to allocate (a width of 10**6 asks torch for
        petabytes), bounded from its 3x3 convolutions before anything is built."""
        convolutions = 2 * blocks_per_stage(self.name)  # each stage's, 9 weights a filter pair
        weights = sum(9 * convolutions * (f * self.width) ** 2 for f in STAGE_FILTERS)
        key, value = (
            ("encoder.width", self.width) if self.width > 1 else ("encoder.name", self.name)
        )
        allowed = (
            f"the network would hold about {weights:.3g} weights; "
            f"at most {MAX_ENCODER_WEIGHTS:.3g} are allowed"
        )
        require(weights <= MAX_ENCODER_WEIGHTS, key, value, allowed)
