"""The ResNet paper's small-image networks (simclr/small_resnets.py): sizes against table 6,
widths, the two shortcut options, the plain twins, state_dict names and refusals."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from simclr.small_resnets import BasicBlock, CifarResNet, ZeroPadShortcut

pytestmark = pytest.mark.usefixtures("single_thread")

# table 6 of He et al. 2015: n blocks a stage, depth 6n+2, parameters with the 10-class fc
TABLE_6 = [(3, 20, "0.27"), (5, 32, "0.46"), (7, 44, "0.66"), (9, 56, "0.85")]
TABLE_6 += [(18, 110, "1.7"), (200, 1202, "19.4")]


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_by_hand(n: int, k: int = 1, in_channels: int = 3, classes: int = 10) -> int:
    """Option A's parameters from the layer sizes (section 4.2), with the paper's fc: the stem
    conv, then per stage 2n 3x3 convolutions (the first of stages 2 and 3 from the narrower
    stage), each followed by a BatchNorm (2 parameters a channel)."""
    a, b, c = 16 * k, 32 * k, 64 * k
    convolutions = 9 * (
        in_channels * a
        + 2 * n * a * a
        + (a * b + (2 * n - 1) * b * b)
        + (b * c + (2 * n - 1) * c * c)
    )
    batch_norms = 2 * (a + 2 * n * (a + b + c))
    return convolutions + batch_norms + c * classes + classes


def with_fc(network: CifarResNet, classes: int = 10) -> int:
    return parameters(network) + parameters(nn.Linear(network.feature_dim, classes))


def images(batch: int = 2, channels: int = 3, size: int = 32) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("n, depth, millions", TABLE_6)
def test_parameters_are_table_6s(n: int, depth: int, millions: str) -> None:
    counted = with_fc(CifarResNet(f"cifar_resnet{depth}"))
    assert counted == count_by_hand(n)
    decimals = len(millions.split(".")[1])
    assert f"{counted / 1e6:.{decimals}f}" == millions


@pytest.mark.parametrize("k", [1, 2])
def test_option_a_adds_no_parameters_and_b_adds_the_two_projections(k: int) -> None:
    option_a = CifarResNet("cifar_resnet20", width=k, shortcut="A")
    option_b = CifarResNet("cifar_resnet20", width=k, shortcut="B")
    plain = CifarResNet("cifar_resnet20", width=k, residual=False)
    assert parameters(option_a) == parameters(plain) == count_by_hand(3, k) - (640 * k + 10)
    projections = (16 * k * 32 * k + 2 * 32 * k) + (32 * k * 64 * k + 2 * 64 * k)
    assert parameters(option_b) == parameters(option_a) + projections


@pytest.mark.parametrize("k", [1, 2, 4])
def test_h_is_64k_dimensional(k: int) -> None:
    network = CifarResNet("cifar_resnet8", width=k, in_channels=1).eval()
    assert network.feature_dim == 64 * k
    assert parameters(network) == count_by_hand(1, k, in_channels=1, classes=0)
    with torch.no_grad():
        assert network(images(channels=1, size=28)).shape == (2, 64 * k)


@pytest.mark.parametrize("shortcut", ["A", "B"])
@pytest.mark.parametrize("residual", [True, False])
def test_the_map_is_32_then_16_then_8(shortcut: str, residual: bool) -> None:
    network = CifarResNet("cifar_resnet14", 2, 3, shortcut, residual).eval()
    seen = {}
    for stage in ("layer1", "layer2", "layer3"):
        layer = getattr(network, stage)
        layer.register_forward_hook(lambda m, i, o, stage=stage: seen.update({stage: o.shape}))
    with torch.no_grad():
        assert network(images(size=32)).shape == (2, 128)
    assert seen == {
        "layer1": (2, 32, 32, 32),
        "layer2": (2, 64, 16, 16),
        "layer3": (2, 128, 8, 8),
    }
    assert network.conv1.kernel_size == (3, 3) and network.conv1.stride == (1, 1)


def residual_branch(block: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    """F(x) of a basic block by hand: bn2(conv2(relu(bn1(conv1(x)))))."""
    return block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))


def randomize_batchnorm(network: nn.Module) -> None:
    """Running statistics and affine parameters away from the identity, so F(x) is not ~0."""
    generator = torch.Generator().manual_seed(1)
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            for tensor in (module.weight, module.bias, module.running_mean):
                tensor.data.copy_(torch.randn(tensor.shape, generator=generator))
            module.running_var.data.copy_(
                torch.rand(module.num_features, generator=generator) + 0.5
            )


def test_option_a_is_the_identity_subsampled_and_zero_padded() -> None:
    network = CifarResNet("cifar_resnet8", shortcut="A").eval()
    randomize_batchnorm(network)
    block = network.layer2[0]  # 16 -> 32 channels, stride 2
    assert isinstance(block.shortcut, ZeroPadShortcut) and parameters(block.shortcut) == 0
    x = torch.randn(2, 16, 8, 8)
    padded = torch.cat([x[:, :, ::2, ::2], torch.zeros(2, 16, 4, 4)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(block.shortcut(x), padded)
        torch.testing.assert_close(block(x), F.relu(residual_branch(block, x) + padded))
    assert isinstance(network.layer3[0].shortcut, ZeroPadShortcut)
    assert isinstance(network.layer1[0].shortcut, nn.Identity)  # 16 -> 16: the identity


def test_option_b_is_a_1x1_projection_where_the_shape_changes() -> None:
    network = CifarResNet("cifar_resnet14", width=2, shortcut="B").eval()
    randomize_batchnorm(network)
    block = network.layer3[0]  # 64 -> 128 channels, stride 2
    projection, batch_norm = block.shortcut
    assert (projection.kernel_size, projection.stride) == ((1, 1), (2, 2))
    assert (projection.in_channels, projection.out_channels) == (64, 128)
    assert isinstance(batch_norm, nn.BatchNorm2d)
    assert isinstance(network.layer3[1].shortcut, nn.Identity)
    assert isinstance(network.layer1[0].shortcut, nn.Identity)  # 32 -> 32: no projection
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        expected = F.relu(residual_branch(block, x) + batch_norm(projection(x)))
        torch.testing.assert_close(block(x), expected)


def test_a_plain_block_is_relu_of_f() -> None:
    residual = CifarResNet("cifar_resnet8").eval()
    plain = CifarResNet("cifar_resnet8", residual=False).eval()
    randomize_batchnorm(residual)
    plain.load_state_dict(residual.state_dict())  # the same keys: option A has no parameters
    x = torch.randn(2, 16, 8, 8)
    residual_block, plain_block = residual.layer1[0], plain.layer1[0]
    assert plain_block.shortcut is None
    with torch.no_grad():
        by_hand = residual_branch(plain_block, x)
        torch.testing.assert_close(plain_block(x), F.relu(by_hand))
        torch.testing.assert_close(residual_block(x), F.relu(by_hand + x))
        for block in (residual_block, plain_block):  # F(x) = 0: bn2 gives 0 everywhere
            block.bn2.weight.zero_()
            block.bn2.bias.zero_()
        torch.testing.assert_close(residual_block(x), F.relu(x))
        assert torch.count_nonzero(plain_block(x)) == 0


def test_no_plain_block_adds_anything() -> None:
    plain = CifarResNet("cifar_resnet14", shortcut="B", residual=False).eval()
    randomize_batchnorm(plain)
    outputs = []
    for layer in (plain.layer1, plain.layer2, plain.layer3):
        for block in layer:
            block.register_forward_hook(lambda m, i, o: outputs.append((m, i[0], o)))
    with torch.no_grad():
        plain(images(size=16))
    assert len(outputs) == 6
    for block, x, y in outputs:
        assert block.shortcut is None
        torch.testing.assert_close(y, F.relu(residual_branch(block, x)))


def block_keys(prefix: str) -> list[str]:
    convolution = [f"{prefix}.conv1.weight"]
    batch_norm = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    convolution += [f"{prefix}.bn1.{name}" for name in batch_norm]
    convolution += [f"{prefix}.conv2.weight"] + [f"{prefix}.bn2.{name}" for name in batch_norm]
    return convolution


def test_state_dict_names_follow_torchvisions_resnet() -> None:
    batch_norm = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    stem = ["conv1.weight"] + [f"bn1.{name}" for name in batch_norm]
    option_a = stem + [key for stage in (1, 2, 3) for key in block_keys(f"layer{stage}.0")]
    assert list(CifarResNet("cifar_resnet8", shortcut="A").state_dict()) == option_a
    assert list(CifarResNet("cifar_resnet8", residual=False).state_dict()) == option_a
    projections = [
        f"layer{stage}.0.shortcut.{key}"
        for stage in (2, 3)
        for key in ["0.weight"] + [f"1.{name}" for name in batch_norm]
    ]
    option_b = list(CifarResNet("cifar_resnet8", shortcut="B").state_dict())
    assert sorted(option_b) == sorted(option_a + projections)


def test_he_initialization() -> None:
    torch.manual_seed(0)
    network = CifarResNet("cifar_resnet20", width=4, shortcut="B")
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            std = float(module.weight.detach().std())
            assert std == pytest.approx((2 / fan_out) ** 0.5, rel=0.1), name
        elif isinstance(module, nn.BatchNorm2d):
            assert bool((module.weight == 1).all() and (module.bias == 0).all()), name


def test_it_trains() -> None:
    torch.manual_seed(0)
    network = CifarResNet("cifar_resnet8", width=2, in_channels=1, shortcut="B")
    network(images(channels=1, size=12)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters())


@pytest.mark.parametrize(
    "arguments, refusal",
    [
        ({"name": "cifar_resnet21"}, "encoder.name='cifar_resnet21' is invalid: depth 21 is not"),
        ({"name": "cifar_resnet2"}, "encoder.name='cifar_resnet2' is invalid: depth 2 is not"),
        ({"name": "cifar_resnet"}, "encoder.name='cifar_resnet' is invalid: the depth after"),
        ({"width": 0}, "encoder.width=0 is invalid: must be a whole number >= 1"),
        ({"width": 1.5}, "encoder.width=1.5 is invalid"),
        ({"shortcut": "C"}, "encoder.shortcut='C' is invalid: allowed: A, B"),
    ],
)
def test_refusals_are_one_line(arguments: dict, refusal: str) -> None:
    with pytest.raises(ValueError, match=f"^{refusal}") as error:
        CifarResNet(**arguments)
    assert "\n" not in str(error.value)
