"""The registry of torchvision backbones that can serve as f (simclr/backbones.py)."""

from __future__ import annotations

import pytest
import torchvision
from torch import nn

from simclr.backbones import ENCODERS, FAMILIES, RESNET, BackboneFamily, EncoderSpec


@pytest.mark.parametrize(
    "name, family",
    [
        ("resnet18", "resnet"),
        ("resnet152", "resnet"),
        ("wide_resnet50_2", "resnet"),
        ("resnext50_32x4d", "resnet"),
        ("densenet121", "densenet"),
        ("efficientnet_b0", "efficientnet"),
        ("efficientnet_v2_s", "efficientnet"),
        ("mobilenet_v2", "mobilenet"),
        ("mobilenet_v3_small", "mobilenet"),
        ("regnet_y_400mf", "regnet"),
    ],
)
def test_torchvision_networks_are_registered_under_their_name_with_their_family(
    name: str, family: str
) -> None:
    assert ENCODERS[name] == EncoderSpec(name, family)
    assert isinstance(FAMILIES[family], BackboneFamily) and FAMILIES[family].name == family


@pytest.mark.parametrize(
    "name", ["alexnet", "vgg11", "vit_b_16", "swin_t", "convnext_tiny", "mnasnet0_5", "googlenet"]
)
def test_networks_of_other_families_are_not_registered(name: str) -> None:
    assert name in torchvision.models.list_models(module=torchvision.models)
    assert name not in ENCODERS


def test_every_registered_network_exists_in_torchvision_and_has_a_known_family() -> None:
    available = set(torchvision.models.list_models(module=torchvision.models))
    assert set(ENCODERS) <= available
    assert {spec.family for spec in ENCODERS.values()} == set(FAMILIES)
    assert all(spec.name == name for name, spec in ENCODERS.items())
    assert FAMILIES["resnet"] is RESNET


@pytest.mark.parametrize(
    "name",
    ["resnet18", "densenet121", "efficientnet_b0", "mobilenet_v3_small", "regnet_x_400mf"],
)
def test_each_family_names_real_modules_of_its_networks(name: str) -> None:
    family = FAMILIES[ENCODERS[name].family]
    model = torchvision.models.get_model(name, weights=None)
    first_conv = model.get_submodule(family.first_conv)
    assert first_conv is next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 3
    if family.stem_pool is not None:
        assert isinstance(model.get_submodule(family.stem_pool), nn.MaxPool2d)
    classifier = getattr(model, family.classifier)
    assert any(isinstance(m, nn.Linear) for m in classifier.modules())
