"""The base encoder f of simclr/encoder.py: sizes, stems, plain networks, state_dicts; the
ResNet paper's small networks through it (their own tests: test_small_resnets.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from simclr.backbones import ENCODERS
from simclr.encoder import Encoder, PlainBlock, build_encoder, resolved_stem
from simclr.small_resnets import CifarResNet


def images(batch: int = 2, channels: int = 3, size: int = 32) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(0))


def spatial_size_entering(module: nn.Module, encoder: Encoder, x: torch.Tensor) -> tuple:
    """(H, W) of the input that ``module`` receives during ``encoder(x)``."""
    seen = []
    handle = module.register_forward_hook(lambda m, inputs, output: seen.append(inputs[0].shape))
    encoder(x)
    handle.remove()
    return tuple(seen[0][-2:])


@pytest.mark.parametrize(
    "name, feature_dim",
    [
        ("resnet18", 512),
        ("resnet34", 512),
        ("resnet50", 2048),
        ("resnet101", 2048),
        ("resnet152", 2048),
        ("wide_resnet50_2", 2048),
        ("densenet121", 1024),
        ("efficientnet_b0", 1280),
    ],
)
def test_feature_dim_of_each_backbone(name: str, feature_dim: int) -> None:
    assert Encoder(name).feature_dim == feature_dim
    assert ENCODERS[name].name == name


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])  # densenet, efficientnet: below
def test_representation_has_feature_dim(name: str) -> None:
    encoder = Encoder(name).eval()
    with torch.no_grad():
        assert encoder(images()).shape == (2, encoder.feature_dim)


@pytest.mark.parametrize(
    "name, stem, in_channels",
    [
        ("resnet18", "standard", 3),
        ("resnet18", "standard", 1),
        ("resnet18", "small", 3),
        ("resnet18", "small", 1),
        ("efficientnet_b0", "standard", 3),
        ("efficientnet_b0", "small", 1),
    ],
)
def test_stems_and_channels(name: str, stem: str, in_channels: int) -> None:
    encoder = Encoder(name, stem=stem, in_channels=in_channels)
    first_conv = next(m for m in encoder.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == in_channels
    with torch.no_grad():
        assert encoder(images(channels=in_channels, size=16)).shape == (2, encoder.feature_dim)


def test_small_stem_is_a_3x3_stride_1_conv_without_max_pool() -> None:
    encoder = Encoder("resnet18", stem="small", in_channels=3)
    conv = encoder.backbone.conv1
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (1, 1), (1, 1))
    assert isinstance(encoder.backbone.maxpool, nn.Identity)
    assert spatial_size_entering(encoder.backbone.layer1, encoder, images(size=32)) == (32, 32)


def test_standard_stem_divides_the_side_by_4_before_layer1() -> None:
    encoder = Encoder("resnet18", stem="standard")
    conv = encoder.backbone.conv1
    assert (conv.kernel_size, conv.stride) == ((7, 7), (2, 2))
    assert spatial_size_entering(encoder.backbone.layer1, encoder, images(size=32)) == (8, 8)


@pytest.mark.parametrize("stem", ["strided", "pooled"])
def test_the_intermediate_stems_halve_the_side_before_layer1(stem: str) -> None:
    encoder = Encoder("resnet18", stem=stem, in_channels=1)
    conv = encoder.backbone.conv1
    stride = 2 if stem == "strided" else 1
    assert (conv.kernel_size, conv.stride, conv.in_channels) == ((3, 3), (stride, stride), 1)
    pool = encoder.backbone.maxpool
    assert isinstance(pool, nn.Identity) == (stem == "strided")
    x = images(channels=1, size=28)
    assert spatial_size_entering(encoder.backbone.layer1, encoder, x) == (14, 14)
    with torch.no_grad():
        assert encoder(x).shape == (2, 512)


def test_the_pooled_stem_needs_a_family_with_a_stem_pool() -> None:
    with pytest.raises(ValueError, match="stem='pooled'"):
        Encoder("regnet_y_400mf", stem="pooled")


@pytest.mark.parametrize(
    "stem, name, image_size, expected",
    [
        ("auto", "resnet18", 28, "pooled"),  # Fashion-MNIST
        ("auto", "resnet50", 32, "pooled"),  # CIFAR
        ("auto", "resnet18", 63, "pooled"),
        ("auto", "resnet18", 64, "standard"),  # the standard stem leaves layer4 at 2x2 here
        ("auto", "resnet50", 224, "standard"),
        ("auto", "regnet_y_400mf", 28, "standard"),  # no stem max-pool to keep
        ("auto", "efficientnet_b0", 28, "standard"),
        ("small", "resnet18", 28, "small"),  # a named stem is kept
        ("standard", "resnet18", 28, "standard"),
    ],
)
def test_auto_stem_by_image_size_and_family(stem, name, image_size, expected) -> None:
    assert resolved_stem(stem, name, image_size) == expected


def test_the_default_module_at_28_px_has_the_pooled_stem(make_config) -> None:
    from simclr.module import SimCLR

    config = make_config("data.image_size=28")
    assert config.encoder.stem == "auto"
    backbone = SimCLR.from_config(config, num_classes=10).encoder.backbone
    assert backbone.conv1.kernel_size == (3, 3) and backbone.conv1.stride == (1, 1)
    assert isinstance(backbone.maxpool, nn.MaxPool2d)


def test_small_stem_of_densenet_drops_its_pool() -> None:
    encoder = Encoder("densenet121", stem="small", in_channels=1).eval()
    assert encoder.backbone.features.conv0.kernel_size == (3, 3)
    assert isinstance(encoder.backbone.features.pool0, nn.Identity)
    x = images(batch=1, channels=1, size=8)
    with torch.no_grad():
        assert spatial_size_entering(encoder.backbone.features.denseblock1, encoder, x) == (8, 8)
        assert encoder(x).shape == (1, 1024)


def basic_block_by_hand(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """F(x) of a BasicBlock: bn2(conv2(relu(bn1(conv1(x)))))."""
    return block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))


def bottleneck_by_hand(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """F(x) of a Bottleneck: bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))))."""
    y = F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))
    return block.bn3(block.conv3(y))


@pytest.mark.parametrize(
    "name, residual_fn", [("resnet18", basic_block_by_hand), ("resnet50", bottleneck_by_hand)]
)
def test_plain_network_has_no_shortcuts(name: str, residual_fn) -> None:
    plain = Encoder(name, residual=False).eval()
    residual = Encoder(name, residual=True).eval()
    names = [n for n, _ in plain.named_modules()]
    assert not any("downsample" in n for n in names)
    stages = [getattr(plain.backbone, f"layer{i}") for i in range(1, 5)]
    assert all(isinstance(block, PlainBlock) for stage in stages for block in stage)

    # same weights in both, so the blocks differ only by the shortcut
    residual.backbone.load_state_dict(plain.backbone.state_dict(), strict=False)
    # the second block of layer1: its shortcut is the identity, so input and output sizes agree
    plain_block, residual_block = plain.backbone.layer1[1], residual.backbone.layer1[1]
    x = torch.randn(2, plain_block.conv1.in_channels, 8, 8)
    with torch.no_grad():
        by_hand = residual_fn(plain_block, x)
        torch.testing.assert_close(plain_block(x), F.relu(by_hand))
        torch.testing.assert_close(residual_block(x), F.relu(by_hand + x))
        assert not torch.allclose(plain_block(x), residual_block(x))


def test_plain_network_keeps_torchvision_keys_less_downsample() -> None:
    plain_keys = set(Encoder("resnet18", residual=False).backbone.state_dict())
    residual_keys = set(Encoder("resnet18").backbone.state_dict())
    assert plain_keys == {k for k in residual_keys if ".downsample." not in k}


def test_plain_forward_hooks_see_no_additions() -> None:
    # in a plain network every block's output is relu(F(x)): non-negative and never x + F(x)
    plain = Encoder("resnet18", stem="small", residual=False).eval()
    outputs = []
    for stage in range(1, 5):
        for block in getattr(plain.backbone, f"layer{stage}"):
            block.register_forward_hook(lambda m, i, o: outputs.append((m, i[0], o)))
    with torch.no_grad():
        plain(images(size=16))
    assert len(outputs) == 8
    for block, x, y in outputs:
        torch.testing.assert_close(y, F.relu(basic_block_by_hand(block, x)))


def test_residual_false_needs_a_resnet() -> None:
    with pytest.raises(ValueError, match="residual=False needs a ResNet"):
        Encoder("densenet121", residual=False)


def test_unknown_name_is_refused_with_the_key() -> None:
    with pytest.raises(ValueError, match="encoder.name='resnet9' is unknown"):
        Encoder("resnet9")


@pytest.mark.parametrize("stem, in_channels", [("standard", 3), ("small", 3), ("small", 1)])
def test_state_dict_loads_strictly_into_torchvision(stem: str, in_channels: int) -> None:
    encoder = Encoder("resnet18", stem=stem, in_channels=in_channels).eval()
    # what a README shows: torchvision's resnet18 without classifier, and the small stem's conv
    model = torchvision.models.resnet18()
    model.fc = nn.Identity()
    if stem == "small":
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.load_state_dict(encoder.backbone.state_dict(), strict=True)
    model.eval()
    x = images(channels=in_channels, size=16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), encoder(x))


DESCRIBED = {
    "name": "resnet34",
    "stem": "small",
    "in_channels": 1,
    "residual": False,
    "feature_dim": 512,
}
# a cifar_resnet's adds its width and shortcut, the settings only it reads, before feature_dim
SMALL_DESCRIBED = {"name": "cifar_resnet14", "stem": "small", "in_channels": 1, "residual": False}
SMALL_DESCRIBED.update(width=2, shortcut="B", feature_dim=128)


@pytest.mark.parametrize("description", [DESCRIBED, SMALL_DESCRIBED], ids=["torchvision", "small"])
def test_describe_has_what_rebuilds_the_encoder(description: dict) -> None:
    arguments = {k: v for k, v in description.items() if k != "feature_dim"}
    encoder = Encoder(**arguments)
    assert encoder.describe() == description
    assert list(encoder.describe()) == list(description)  # encoder.yaml's order
    rebuilt = Encoder(**arguments)
    rebuilt.load_state_dict(encoder.state_dict(), strict=True)


# ----------------------------------------------------------------------------- cifar_resnet
@pytest.mark.parametrize(
    "name, width, channels, size, feature_dim",
    [
        ("cifar_resnet20", 1, 3, 32, 64),
        ("cifar_resnet20", 2, 1, 28, 128),
        ("cifar_resnet26", 4, 1, 16, 256),  # any depth 6n+2, listed or not
    ],
)
def test_a_cifar_resnet_gives_a_64k_dimensional_h(name, width, channels, size, feature_dim):
    encoder = Encoder(name, in_channels=channels, width=width).eval()
    assert isinstance(encoder.backbone, CifarResNet)
    assert encoder.feature_dim == encoder.backbone.feature_dim == feature_dim
    with torch.no_grad():
        assert encoder(images(channels=channels, size=size)).shape == (2, feature_dim)


@pytest.mark.parametrize("stem", [None, "auto", "small"])
def test_a_cifar_resnets_stem_is_its_own(stem: str | None) -> None:
    encoder = Encoder("cifar_resnet20", stem=stem, in_channels=1)
    assert encoder.stem == "small"
    conv = encoder.backbone.conv1
    assert (conv.kernel_size, conv.stride, conv.in_channels) == ((3, 3), (1, 1), 1)
    assert spatial_size_entering(encoder.backbone.layer1, encoder, images(channels=1)) == (32, 32)


def test_auto_stem_of_a_cifar_resnet_is_small_at_any_size() -> None:
    for size in (28, 32, 224):
        assert resolved_stem("auto", "cifar_resnet56", size) == "small"
        assert resolved_stem("auto", "cifar_resnet14", size) == "small"


@pytest.mark.parametrize(
    "arguments, refusal",
    [
        ({"name": "cifar_resnet21"}, "encoder.name='cifar_resnet21' is invalid: depth 21 is"),
        ({"name": "cifar_resnet20", "stem": "standard"}, "encoder.stem='standard' is invalid"),
        ({"name": "cifar_resnet20", "stem": "pooled"}, "encoder.stem='pooled' is invalid"),
        ({"name": "resnet18", "width": 2}, "encoder.width=2 is invalid: width multiplies"),
        ({"name": "resnet18", "shortcut": "B"}, "encoder.shortcut='B' is invalid"),
        ({"name": "cifar_resnet20", "width": 0}, "encoder.width=0 is invalid"),
        ({"name": "cifar_resnet20", "shortcut": "C"}, "encoder.shortcut='C' is invalid"),
    ],
)
def test_cifar_resnet_settings_are_refused_in_one_line(arguments: dict, refusal: str) -> None:
    with pytest.raises(ValueError, match=f"^{refusal}") as error:
        Encoder(**arguments)
    assert "\n" not in str(error.value)


def test_build_encoder_passes_width_and_shortcut(make_config) -> None:
    overrides = ["encoder.name=cifar_resnet8", "encoder.width=2", "encoder.shortcut=B"]
    config = make_config(*overrides, "data.channels=1")
    encoder = build_encoder(config)
    assert encoder.describe() == {
        "name": "cifar_resnet8",
        "stem": "small",
        "in_channels": 1,
        "residual": True,
        "width": 2,
        "shortcut": "B",
        "feature_dim": 128,
    }
    assert isinstance(encoder.backbone.layer2[0].shortcut, nn.Sequential)  # option B
