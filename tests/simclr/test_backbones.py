"""The registry of networks that can serve as f (simclr/backbones.py): torchvision's by family,
and the ResNet paper's small-image networks by depth."""

from __future__ import annotations

import pytest
import torchvision
from torch import nn

from simclr.backbones import (
    ENCODERS,
    FAMILIES,
    RESNET,
    SMALL_RESNET,
    BackboneFamily,
    EncoderSpec,
    encoder_spec,
)


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
    torchvision_names = {n for n, spec in ENCODERS.items() if spec.family != SMALL_RESNET}
    assert torchvision_names <= available
    assert {ENCODERS[name].family for name in torchvision_names} == set(FAMILIES)
    assert all(spec.name == name for name, spec in ENCODERS.items())
    assert FAMILIES["resnet"] is RESNET


def test_the_resnet_papers_small_networks_are_listed_at_its_depths() -> None:
    small = {name for name, spec in ENCODERS.items() if spec.family == SMALL_RESNET}
    assert small == {f"cifar_resnet{d}" for d in (20, 32, 44, 56, 110, 1202)}
    assert not small & set(torchvision.models.list_models(module=torchvision.models))


@pytest.mark.parametrize("name", ["cifar_resnet8", "cifar_resnet14", "cifar_resnet26"])
def test_any_depth_6n_plus_2_is_a_small_resnet(name: str) -> None:
    assert name not in ENCODERS
    assert encoder_spec(name) == EncoderSpec(name, SMALL_RESNET)


@pytest.mark.parametrize(
    "name", ["cifar_resnet21", "cifar_resnet2", "cifar_resnet020", "cifar_resnet", "resnet9"]
)
def test_other_names_have_no_entry(name: str) -> None:
    assert encoder_spec(name) is None


def test_a_listed_name_has_its_entry() -> None:
    assert encoder_spec("resnet18") is ENCODERS["resnet18"]
    assert encoder_spec("cifar_resnet56") is ENCODERS["cifar_resnet56"]


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
