"""The networks that can serve as the base encoder f, by name.

Every model of ``torchvision.models`` whose family is listed here is registered under its
torchvision name; the family says where the network keeps its first convolution, its stem pooling
and its classifier, which :class:`simclr.encoder.Encoder` replaces or removes. Beside them, the
ResNet paper's small-image networks (:mod:`simclr.small_resnets`, family ``cifar_resnet``) are
listed at the paper's depths, ``cifar_resnet20`` ... ``cifar_resnet1202``; any other depth 6n+2
is one too (:func:`encoder_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torchvision

from simclr.small_resnets import PAPER_DEPTHS, PREFIX, depth_refusal


@dataclass(frozen=True)
class BackboneFamily:
    """Where a torchvision family keeps its first convolution, stem pooling and classifier."""

    name: str
    first_conv: str  # dotted path of the first convolution
    stem_pool: str | None  # dotted path of the stem's max-pool, removed by the small stem
    classifier: str  # attribute replaced by nn.Identity()


RESNET = BackboneFamily("resnet", "conv1", "maxpool", "fc")
DENSENET = BackboneFamily("densenet", "features.conv0", "features.pool0", "classifier")
EFFICIENTNET = BackboneFamily("efficientnet", "features.0.0", None, "classifier")
MOBILENET = BackboneFamily("mobilenet", "features.0.0", None, "classifier")
REGNET = BackboneFamily("regnet", "stem.0", None, "fc")

_FAMILY_BY_PREFIX = {
    "resnet": RESNET,
    "wide_resnet": RESNET,
    "resnext": RESNET,
    "densenet": DENSENET,
    "efficientnet": EFFICIENTNET,
    "mobilenet": MOBILENET,
    "regnet": REGNET,
}


SMALL_RESNET = PREFIX  # the family of simclr.small_resnets, built there, not by torchvision


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    family: str


def _registered_encoders() -> dict[str, EncoderSpec]:
    specs = {}
    for name in torchvision.models.list_models(module=torchvision.models):
        for prefix, family in _FAMILY_BY_PREFIX.items():
            if name.startswith(prefix):
                specs[name] = EncoderSpec(name, family.name)
    for depth in PAPER_DEPTHS:
        specs[f"{PREFIX}{depth}"] = EncoderSpec(f"{PREFIX}{depth}", SMALL_RESNET)
    return specs


def encoder_spec(name: str) -> EncoderSpec | None:
    """The table's entry for ``name``, a ``cifar_resnet{6n+2}`` of any depth included; None for
    a name that is neither."""
    if name in ENCODERS:
        return ENCODERS[name]
    return EncoderSpec(name, SMALL_RESNET) if depth_refusal(name) is None else None


ENCODERS: dict[str, EncoderSpec] = _registered_encoders()
# the torchvision families (the small ResNets have their own stem and no classifier to remove)
FAMILIES: dict[str, BackboneFamily] = {family.name: family for family in _FAMILY_BY_PREFIX.values()}
