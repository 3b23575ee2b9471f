"""The torchvision classification networks that can serve as the base encoder f, by name.

Every model of ``torchvision.models`` whose family is listed here is registered under its
torchvision name; the family says where the network keeps its first convolution, its stem pooling
and its classifier, which :class:`simclr.encoder.Encoder` replaces or removes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torchvision


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
    return specs


ENCODERS: dict[str, EncoderSpec] = _registered_encoders()
FAMILIES: dict[str, BackboneFamily] = {family.name: family for family in _FAMILY_BY_PREFIX.values()}
